#include "resnet.h"
#include "nn/batchnorm.h"
#include "nn/blas.h"
#include "nn/check.h"
#include "nn/linear.h"
#include "nn/pool.h"
#include "nn/relu.h"
#include "nn/residual.h"
#include "nn/softmax_ce.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct { const char *name; int blocks; } PRESETS[] = {
    {"resnet8", 1}, {"resnet20", 3}, {"resnet32", 5}, {"resnet44", 7}, {"resnet56", 9}, {"resnet110", 18},
};
#define NPRESETS (int)(sizeof PRESETS / sizeof PRESETS[0])

ResNetConfig resnet_preset(const char *name) {
    for (int i = 0; i < NPRESETS; i++)
        if (strcmp(name, PRESETS[i].name) == 0)
            return (ResNetConfig){.blocks = PRESETS[i].blocks, .width = 1.0f, .batch = 128, .classes = 10,
                                  .image_h = 32, .image_w = 32, .shortcut = 'A', .bn_momentum = 0.1f,
                                  .bn_eps = 1e-5f};
    NN_FATAL("unknown model '%s'; accepted: resnet8 resnet20 resnet32 resnet44 resnet56 resnet110", name);
}

static int stage_channels(float width, int base) {
    int c = (int)(base * width + 0.5f);
    return c < 1 ? 1 : c;
}

static long numel(const ConvShape *s, int N) { return (long)N * s->OC * s->OH * s->OW; }

// The network is built by one routine used twice: by resnet_init (allocate = 1) and by resnet_memory_bytes
// (allocate = 0: only m->bytes is summed), so the estimate is what is allocated by construction.
typedef struct { ResNet *m; int allocate; long max_act, max_scratch, max_image_act, max_copy; } Build;

static float *alloc(Build *b, long n) {
    b->m->bytes += 4.0 * (double)n;
    return b->allocate ? nn_alloc_floats((size_t)n) : NULL;
}

// conv "<conv>.weight" then "<bn>.weight", "<bn>.bias" (named_parameters' order), "<bn>.running_mean/var".
static void declare_convbn(Build *b, ConvBn *u, const char *conv, const char *bn, ConvShape s) {
    ResNet *m = b->m;
    char name[64];
    u->s = s;
    snprintf(name, sizeof name, "%s.weight", conv);
    u->v_w = params_add(&m->params, name, 4, (int[]){s.OC, s.C, s.KH, s.KW});
    snprintf(name, sizeof name, "%s.weight", bn);
    u->v_gamma = params_add(&m->params, name, 1, (int[]){s.OC});
    snprintf(name, sizeof name, "%s.bias", bn);
    u->v_beta = params_add(&m->params, name, 1, (int[]){s.OC});
    snprintf(name, sizeof name, "%s.running_mean", bn);
    u->b_mean = params_add(&m->stats, name, 1, (int[]){s.OC});
    snprintf(name, sizeof name, "%s.running_var", bn);
    u->b_var = params_add(&m->stats, name, 1, (int[]){s.OC});
    int N = m->cfg.batch;
    u->y = alloc(b, numel(&s, N));
    u->mean = alloc(b, s.OC);
    u->rstd = alloc(b, s.OC);
    u->eval_map = alloc(b, 2L * s.OC);
    u->wt_direct = alloc(b, (long)conv2d_direct_weight_floats(&s));
    if (numel(&s, N) > b->max_act) b->max_act = numel(&s, N);
    if (numel(&s, 1) > b->max_image_act) b->max_image_act = numel(&s, 1);
    if ((long)conv2d_direct_copy_floats(&s) > b->max_copy) b->max_copy = (long)conv2d_direct_copy_floats(&s);
    long scratch = (long)conv2d_scratch_floats(&s, N, m->threads);
    if (scratch > b->max_scratch) b->max_scratch = scratch;
}

static void build(ResNet *m, const ResNetConfig *cfg, int allocate) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->threads = nn_get_threads();
    int n = cfg->blocks, N = cfg->batch, K = cfg->classes, H = cfg->image_h, W = cfg->image_w;
    NN_CHECK(n >= 1 && n <= 1000, "resnet: %d blocks per stage (accepted 1..1000; depth = 6n+2)", n);
    NN_CHECK(cfg->width > 0 && cfg->width <= 64, "resnet: width multiplier %g (accepted (0, 64])", cfg->width);
    NN_CHECK(N >= 1 && K >= 2, "resnet: batch %d and classes %d (batch >= 1, classes >= 2)", N, K);
    NN_CHECK(H >= 1 && W >= 1, "resnet: input size %dx%d must be positive", H, W);
    NN_CHECK(cfg->shortcut == 'A' || cfg->shortcut == 'B', "resnet: shortcut '%c' (accepted: A zero-padding, "
             "B projection)", cfg->shortcut ? cfg->shortcut : '?');
    NN_CHECK(cfg->bn_momentum >= 0 && cfg->bn_momentum <= 1 && cfg->bn_eps > 0, "resnet: batchnorm momentum %g "
             "(accepted [0, 1]) and eps %g (must be positive)", cfg->bn_momentum, cfg->bn_eps);
    for (int s = 0; s < 3; s++) m->c[s] = stage_channels(cfg->width, 16 << s);

    Build b = {.m = m, .allocate = allocate};
    params_init(&m->params);
    params_init(&m->stats);
    declare_convbn(&b, &m->stem, "conv1", "bn1", conv2d_shape(3, H, W, m->c[0], 3, 3, 1, 1));
    m->stem_out = alloc(&b, numel(&m->stem.s, N));
    m->nblocks = 3 * n;
    m->block = allocate ? nn_calloc((size_t)m->nblocks, sizeof *m->block) : NULL;
    int C = m->c[0];
    for (int i = 0; i < m->nblocks; i++) {
        ResBlock tmp, *blk = allocate ? &m->block[i] : &tmp;
        memset(blk, 0, sizeof *blk);
        int stage = i / n, OC = m->c[stage], stride = (stage > 0 && i % n == 0) ? 2 : 1;
        char conv[64], bn[64], prefix[32];
        snprintf(prefix, sizeof prefix, "layer%d.%d", stage + 1, i % n);
        blk->C = C, blk->H = H, blk->W = W;
        snprintf(conv, sizeof conv, "%s.conv1", prefix), snprintf(bn, sizeof bn, "%s.bn1", prefix);
        declare_convbn(&b, &blk->c1, conv, bn, conv2d_shape(C, H, W, OC, 3, 3, stride, 1));
        ConvShape s1 = blk->c1.s;
        snprintf(conv, sizeof conv, "%s.conv2", prefix), snprintf(bn, sizeof bn, "%s.bn2", prefix);
        declare_convbn(&b, &blk->c2, conv, bn, conv2d_shape(OC, s1.OH, s1.OW, OC, 3, 3, 1, 1));
        blk->kind = 'I';
        if (stride != 1 || C != OC) {
            NN_CHECK(cfg->shortcut == 'B' || OC >= C, "resnet: option A cannot shrink %d to %d channels", C, OC);
            blk->kind = cfg->shortcut;
        }
        if (blk->kind == 'B') {
            snprintf(conv, sizeof conv, "%s.shortcut.0", prefix), snprintf(bn, sizeof bn, "%s.shortcut.1", prefix);
            declare_convbn(&b, &blk->proj, conv, bn, conv2d_shape(C, H, W, OC, 1, 1, stride, 0));
        }
        blk->z1 = alloc(&b, numel(&s1, N));
        blk->out = alloc(&b, numel(&s1, N));
        C = OC, H = s1.OH, W = s1.OW;
    }
    m->v_fc_w = params_add(&m->params, "linear.weight", 2, (int[]){K, C});
    m->v_fc_b = params_add(&m->params, "linear.bias", 1, (int[]){K});
    m->pooled = alloc(&b, (long)N * C);
    m->dpooled = alloc(&b, (long)N * C);
    m->logits = alloc(&b, (long)N * K);
    m->dlogits = alloc(&b, (long)N * K);
    for (int k = 0; k < 4; k++) m->grad[k] = alloc(&b, b.max_act);
    m->scratch = alloc(&b, b.max_scratch);
    m->eval_act = b.max_image_act, m->eval_copy = b.max_copy;
    m->eval_work = alloc(&b, (long)m->threads * (3 * m->eval_act + m->eval_copy));
    m->bytes += 2.0 * 4.0 * (double)(m->params.n + m->stats.n);
    if (allocate) {
        params_alloc(&m->params);
        params_alloc(&m->stats);
    }
}

void resnet_init(ResNet *m, const ResNetConfig *cfg) {
    build(m, cfg, 1);
    // PyTorch's construction: batchnorm weight 1, bias 0, running mean 0, running variance 1
    ConvBn *units[3];
    for (int i = -1; i < m->nblocks; i++) {
        int k = 0;
        if (i < 0) units[k++] = &m->stem;
        else {
            units[k++] = &m->block[i].c1, units[k++] = &m->block[i].c2;
            if (m->block[i].kind == 'B') units[k++] = &m->block[i].proj;
        }
        for (int j = 0; j < k; j++) {
            float *g = params_ptr(&m->params, units[j]->v_gamma), *v = params_ptr(&m->stats, units[j]->b_var);
            for (int c = 0; c < units[j]->s.OC; c++) g[c] = 1.0f, v[c] = 1.0f;
        }
    }
}

double resnet_memory_bytes(const ResNetConfig *cfg) {
    ResNet m;
    build(&m, cfg, 0);
    double bytes = m.bytes;
    params_free(&m.params);
    params_free(&m.stats);
    return bytes;
}

void resnet_free(ResNet *m) {
    ConvBn *stem = &m->stem;
    float *bufs[] = {stem->y, stem->mean, stem->rstd, m->stem_out, m->pooled, m->dpooled, m->logits, m->dlogits,
                     m->grad[0], m->grad[1], m->grad[2], m->grad[3], m->scratch, m->eval_work,
                     stem->eval_map, stem->wt_direct};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    for (int i = 0; i < m->nblocks; i++) {
        ResBlock *b = &m->block[i];
        ConvBn *u[3] = {&b->c1, &b->c2, &b->proj};
        for (int j = 0; j < 3; j++) {
            free(u[j]->y), free(u[j]->mean), free(u[j]->rstd);
            free(u[j]->eval_map), free(u[j]->wt_direct);
        }
        free(b->z1), free(b->out);
    }
    free(m->block);
    params_free(&m->params);
    params_free(&m->stats);
    memset(m, 0, sizeof *m);
}

void resnet_init_he(ResNet *m, Rng *rng) {
    Params *p = &m->params;
    for (int v = 0; v < p->nviews; v++) {
        const ParamView *pv = &p->views[v];
        if (pv->ndim < 2) continue; // batchnorm weights and biases keep PyTorch's 1 and 0; linear.bias below
        double fan_in = (double)(pv->size / (size_t)pv->shape[0]), std = sqrt(2.0 / fan_in);
        float *w = params_ptr(p, v);
        for (size_t i = 0; i < pv->size; i++) w[i] = (float)(std * rng_normal(rng));
    }
    float bound = 1.0f / sqrtf((float)m->c[2]), *bias = params_ptr(p, m->v_fc_b);
    for (int k = 0; k < m->cfg.classes; k++) bias[k] = rng_uniform_range(rng, -bound, bound);
}

long resnet_param_count(const ResNet *m) { return (long)m->params.n; }

// ---- forward and backward

// out = bn(conv(inp)) (+ add) (then relu when relu != 0); the convolution's output stays in u->y for batchnorm's
// backward.
static void convbn_forward(ResNet *m, ConvBn *u, float *out, const float *inp, int N, int training, const float *add,
                           int relu) {
    const Params *p = &m->params;
    int OC = u->s.OC, HW = u->s.OH * u->s.OW;
    float *rm = params_ptr(&m->stats, u->b_mean), *rv = params_ptr(&m->stats, u->b_var);
    const float *gamma = params_ptr(p, u->v_gamma), *beta = params_ptr(p, u->v_beta);
    if (!training) { // the batchnorm applied as the convolution stores its outputs (u->y is training's alone)
        batchnorm_eval_affine(u->eval_map, u->eval_map + OC, gamma, beta, rm, rv, m->cfg.bn_eps, OC);
        ConvEpilogue ep = {.scale = u->eval_map, .shift = u->eval_map + OC, .add = add, .relu = relu};
        conv2d_forward_then(out, m->scratch, inp, params_ptr(p, u->v_w), N, &u->s, &ep, m->threads);
        return;
    }
    conv2d_forward(u->y, m->scratch, inp, params_ptr(p, u->v_w), NULL, N, &u->s, m->threads);
    batchnorm_forward_train(out, u->mean, u->rstd, rm, rv, u->y, gamma, beta, m->cfg.bn_momentum, m->cfg.bn_eps, N,
                            OC, HW, add, relu, m->threads);
}

// dinp += d(bn(conv(inp)))/dinp^T dout (dinp may be NULL), and the unit's weight gradients; work [N,OC,OH,OW].
// With relu_out (the unit's output after a ReLU, may be NULL) dout is the gradient after that ReLU.
static void convbn_backward(ResNet *m, ConvBn *u, float *dinp, float *work, const float *dout, const float *inp,
                            int N, const float *relu_out) {
    const Params *p = &m->params;
    int OC = u->s.OC, HW = u->s.OH * u->s.OW;
    batchnorm_backward_into(work, params_grad(p, u->v_gamma), params_grad(p, u->v_beta), dout, u->y, u->mean,
                            u->rstd, params_ptr(p, u->v_gamma), N, OC, HW, relu_out, m->threads);
    conv2d_backward(dinp, params_grad(p, u->v_w), NULL, m->scratch, work, inp, params_ptr(p, u->v_w), N, &u->s,
                    m->threads);
}

static void block_forward(ResNet *m, ResBlock *b, const float *x, int N, int training) {
    const ConvShape *s = &b->c1.s;
    convbn_forward(m, &b->c1, b->z1, x, N, training, NULL, 1);
    const float *sc = x;
    if (b->kind == 'A') shortcut_pad_forward(m->grad[0], x, N, b->C, b->H, b->W, s->OC, s->stride), sc = m->grad[0];
    if (b->kind == 'B') convbn_forward(m, &b->proj, m->grad[0], x, N, training, NULL, 0), sc = m->grad[0];
    convbn_forward(m, &b->c2, b->out, b->z1, N, training, sc, 1); // out = relu(bn2(conv2(z1)) + shortcut)
}

// The backward's element-wise passes over whole activations, split over the threads (each element on its own:
// the same values whichever thread does it): gin = g where out > 0, else 0 (gin NULL: g in place); or zeros.
typedef struct {
    float *gin, *g;
    const float *out;
    long n;
} FlatJob;

static void flat_blocks(void *ctx, long b0, long b1) {
    const FlatJob *j = ctx;
    long i0 = b0 * NN_FLAT_BLOCK, i1 = b1 * NN_FLAT_BLOCK < j->n ? b1 * NN_FLAT_BLOCK : j->n;
    if (!j->out) memset(j->g + i0, 0, (size_t)(i1 - i0) * sizeof(float));
    else if (j->gin) relu_backward_mask(j->gin + i0, j->g + i0, j->out + i0, i1 - i0);
    else relu_backward_inplace(j->g + i0, j->out + i0, i1 - i0);
}

static void relu_backward_split(float *gin, float *g, const float *out, long n) {
    FlatJob j = {gin, g, out, n};
    nn_parallel_blocks((size_t)n, flat_blocks, &j);
}

static void zero_split(float *x, long n) {
    FlatJob j = {NULL, x, NULL, n};
    nn_parallel_blocks((size_t)n, flat_blocks, &j);
}

// g = dLoss/d(block output) on entry (clobbered when the shortcut is not the identity); gin = dLoss/dx on return.
static void block_backward(ResNet *m, ResBlock *b, float *gin, float *g, const float *x, int N) {
    const ConvShape *s = &b->c1.s;
    long n = numel(s, N);
    float *dz1 = m->grad[3], *work = m->grad[2];
    // the gradient through the final relu goes to bn2 (which applies the mask itself) and to the shortcut: an
    // identity shortcut starts gin with it (one pass instead of masking g, zeroing gin and adding g to it)
    relu_backward_split(b->kind == 'I' ? gin : NULL, g, b->out, n);
    zero_split(dz1, n);
    convbn_backward(m, &b->c2, dz1, work, g, b->z1, N, b->out); // dz1 = dLoss/dz1, before z1's ReLU
    if (b->kind != 'I') zero_split(gin, (long)N * b->C * b->H * b->W);
    convbn_backward(m, &b->c1, gin, work, dz1, x, N, b->z1);
    if (b->kind == 'A') shortcut_pad_backward(gin, g, N, b->C, b->H, b->W, s->OC, s->stride);
    if (b->kind == 'B') convbn_backward(m, &b->proj, gin, work, g, x, N, NULL);
}

// Evaluation image by image: with batchnorm in evaluation mode the images are independent, so each thread takes
// its images through every layer (the direct kernels, each batchnorm applied as outputs are stored) in its own
// buffers, which stay in L2, instead of the batch layer by layer through memory. Where a layer does not run in the
// direct kernels (no AVX-512, option-B projections) it returns 0 and the batch goes layer by layer.
typedef struct {
    ResNet *m;
    const float *images;
    int N;
} EvalJob;

static void eval_map_and_weights(const ResNet *m, ConvBn *u) {
    const Params *p = &m->params;
    batchnorm_eval_affine(u->eval_map, u->eval_map + u->s.OC, params_ptr(p, u->v_gamma), params_ptr(p, u->v_beta),
                          params_ptr(&m->stats, u->b_mean), params_ptr(&m->stats, u->b_var), m->cfg.bn_eps, u->s.OC);
    conv2d_direct_weights(u->wt_direct, params_ptr(p, u->v_w), &u->s);
}

static void convbn_image(const ConvBn *u, float *out, float *copy, const float *inp, const float *add, int relu) {
    ConvEpilogue ep = {.scale = u->eval_map, .shift = u->eval_map + u->s.OC, .add = add, .relu = relu};
    conv2d_direct_image(out, copy, inp, u->wt_direct, &u->s, &ep);
}

// The images of part t of m->threads, in the part's own buffers
static void eval_part(ResNet *m, const float *images, int N, long t) {
    float *work = m->eval_work + t * (3 * m->eval_act + m->eval_copy), *copy = work + 3 * m->eval_act;
    float *buf[3] = {work, work + m->eval_act, work + 2 * m->eval_act};
    const ConvShape *s0 = &m->stem.s, *last = &m->block[m->nblocks - 1].c2.s;
    for (long n = N * t / m->threads; n < N * (t + 1) / m->threads; n++) {
        convbn_image(&m->stem, buf[0], copy, images + n * s0->C * s0->H * s0->W, NULL, 1);
        int x = 0; // buf[x] holds the block's input
        for (int i = 0; i < m->nblocks; i++) {
            const ResBlock *b = &m->block[i];
            int z = (x + 1) % 3, o = (x + 2) % 3, sc = x;
            convbn_image(&b->c1, buf[z], copy, buf[x], NULL, 1);
            if (b->kind == 'A') { // the padded shortcut where the output would go; the output then takes x's place
                shortcut_pad_forward(buf[o], buf[x], 1, b->C, b->H, b->W, b->c1.s.OC, b->c1.s.stride);
                sc = o, o = x;
            }
            convbn_image(&b->c2, buf[o], copy, buf[z], buf[sc], 1);
            x = o;
        }
        global_avgpool_forward(m->pooled + n * last->OC, buf[x], 1, last->OC, last->OH * last->OW);
    }
}

static void eval_parts(void *ctx, long t0, long t1) {
    const EvalJob *j = ctx;
    for (long t = t0; t < t1; t++) eval_part(j->m, j->images, j->N, t);
}

static int forward_eval_by_image(ResNet *m, const float *images, int N) {
    if (!conv2d_direct_fits(&m->stem.s)) return 0;
    for (int i = 0; i < m->nblocks; i++)
        if (m->block[i].kind == 'B' || !conv2d_direct_fits(&m->block[i].c1.s) ||
            !conv2d_direct_fits(&m->block[i].c2.s))
            return 0;
    eval_map_and_weights(m, &m->stem);
    for (int i = 0; i < m->nblocks; i++)
        eval_map_and_weights(m, &m->block[i].c1), eval_map_and_weights(m, &m->block[i].c2);
    EvalJob j = {m, images, N};
    nn_parallel_for(m->threads, m->threads, eval_parts, &j);
    return 1;
}

double resnet_forward(ResNet *m, const float *images, const int *labels, int N, Pass pass) {
    int training = pass != PASS_EVAL;
    int K = m->cfg.classes, C3 = m->c[2];
    NN_CHECK(N >= 1 && N <= m->cfg.batch, "resnet_forward: batch of %d outside the model's buffers (1..%d)", N,
             m->cfg.batch);
    for (int i = 0; i < N; i++)
        NN_CHECK(labels[i] >= 0 && labels[i] < K, "resnet_forward: label %d of image %d outside 0..%d", labels[i],
                 i, K - 1);
    if (training || !forward_eval_by_image(m, images, N)) {
        convbn_forward(m, &m->stem, m->stem_out, images, N, training, NULL, 1);
        const float *x = m->stem_out;
        for (int i = 0; i < m->nblocks; i++) {
            block_forward(m, &m->block[i], x, N, training);
            x = m->block[i].out;
        }
        const ConvShape *last = &m->block[m->nblocks - 1].c2.s;
        global_avgpool_forward(m->pooled, x, N, C3, last->OH * last->OW);
    }
    linear_forward(m->logits, m->pooled, params_ptr(&m->params, m->v_fc_w), params_ptr(&m->params, m->v_fc_b), N,
                   C3, K);
    m->correct = 0;
    for (int i = 0; i < N; i++) {
        const float *row = m->logits + (long)i * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (row[k] > row[best]) best = k;
        m->correct += best == labels[i];
    }
    memcpy(m->dlogits, m->logits, (size_t)N * K * sizeof(float)); // the softmax works in place
    double loss = training ? softmax_ce_forward_backward(m->dlogits, labels, N, K, 1.0f / (float)N, 1)
                           : softmax_ce_loss(m->dlogits, labels, N, K, 1);
    m->images = images, m->last_n = N, m->last_training = training;
    return loss / N;
}

void resnet_backward(ResNet *m) {
    NN_CHECK(m->last_training && m->images, "resnet_backward: the last forward was not a training forward");
    const Params *p = &m->params;
    int N = m->last_n, K = m->cfg.classes, C3 = m->c[2];
    memset(m->dpooled, 0, (size_t)N * C3 * sizeof(float));
    linear_backward(m->dpooled, params_grad(p, m->v_fc_w), params_grad(p, m->v_fc_b), m->dlogits, m->pooled,
                    params_ptr(p, m->v_fc_w), N, C3, K);
    const ConvShape *last = &m->block[m->nblocks - 1].c2.s;
    float *g = m->grad[0], *gin = m->grad[1];
    memset(g, 0, (size_t)numel(last, N) * sizeof(float));
    global_avgpool_backward(g, m->dpooled, N, C3, last->OH * last->OW);
    for (int i = m->nblocks - 1; i >= 0; i--) {
        block_backward(m, &m->block[i], gin, g, i > 0 ? m->block[i - 1].out : m->stem_out, N);
        float *t = g;
        g = gin, gin = t;
    }
    convbn_backward(m, &m->stem, NULL, m->grad[2], g, m->images, N, m->stem_out); // no gradient for the images
}
