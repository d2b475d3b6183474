// Decoder-only Transformer language model with pre-LayerNorm blocks (GPT-2's layout; Radford et al. 2019):
//   x = dropout(tok_emb[ids] + pos_emb[t])
//   per block:  x = x + dropout(attn(LN1(x)) Wo^T + bo),   attn: causal multi-head (nn/attention.h) on
//                                                            LN1(x) Wqkv^T + bqkv, dropout on its probabilities
//               x = x + dropout(gelu(LN2(x) W1^T + b1) W2^T + b2)
//   logits = LN_f(x) tok_emb^T + decoder.bias   (the output embedding tied to the input one)
//   loss = mean over the N*T tokens of the cross-entropy
// Each sequence sees only itself: no state carries between windows. Tokens are sequence-major, row n*T + t.
// V=vocabulary D=width H=heads L=blocks F=MLP width T=context (positions) N=sequences
#ifndef MODELS_TRANSFORMER_LM_H
#define MODELS_TRANSFORMER_LM_H

#include "nn/params.h"
#include "nn/pass.h"
#include "nn/rng.h"

#define TFM_MAX_LAYERS 24

typedef struct {
    int vocab, dim, heads, layers, ffn; // V D H L F
    int context, batch;                 // largest T (the positional table's length) and N any call will use
    float dropout;                      // on the embedding and on both residual branches; 0 = off
    float attn_dropout;                 // on the attention probabilities; 0 = off
} TfmConfig;

typedef struct {                        // one block's activations, [rows, ...] for rows = context * batch
    float *ln1, *ln1_mean, *ln1_rstd;   // LN1(x) and its row statistics
    float *qkv;                         // [rows, 3D]
    float *probs, *att_mask;            // [N, H, T, T] attention probabilities and their dropout mask
    float *att;                         // [rows, D] the heads' outputs, before the output projection
    float *mask_att;                    // [rows, D] dropout on the attention branch
    float *mid;                         // [rows, D] x after the attention branch
    float *ln2, *ln2_mean, *ln2_rstd;
    float *fc, *act;                    // [rows, F] before and after GELU
    float *mask_mlp;                    // [rows, D] dropout on the MLP branch
} TfmBlock;

typedef struct {
    TfmConfig cfg;
    Params params; // tok_emb.weight, pos_emb.weight, blocks.<l>.{ln1,attn.in_proj,attn.out_proj,ln2,mlp.fc1,mlp.fc2}
                   // .*, ln_f.{weight,bias}, decoder.bias: PyTorch's names (nn.MultiheadAttention's in_proj_*)
    int v_tok, v_pos, v_lnf_w, v_lnf_b, v_dec_b;
    struct {
        int ln1_w, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
    } v[TFM_MAX_LAYERS];                // each block's views
    TfmBlock blk[TFM_MAX_LAYERS];
    float *res[TFM_MAX_LAYERS + 1];     // [rows, D] the residual stream entering block l; res[L] leaves the last
    float *mask_emb;                    // [rows, D]
    float *lnf, *lnf_mean, *lnf_rstd;
    float *logits;                      // [rows, V]; after a training forward, dLoss/dlogits
    // backward scratch
    float *dres, *dbranch, *dln;        // [rows, D]
    float *dwide;                       // [rows, max(3D, F)]
    float *att_scratch;                 // attention's per-thread scratch, for att_threads threads
    int *scored_y;                      // [rows] tfm_eval_loss_sum's targets
    int att_threads;
    int dropped;                        // whether the last forward applied dropout
    int T, N;                           // the last forward's shape
    double bytes;                       // allocated by tfm_init
} TransformerLM;

// Checks the config (heads divide the width, sizes positive, dropouts in [0, 1)) and allocates everything; the
// attention's scratch is sized for nn_get_threads() threads at this call (more later run no faster, not wrong).
void tfm_init(TransformerLM *m, const TfmConfig *cfg);
double tfm_memory_bytes(const TfmConfig *cfg); // what tfm_init allocates
void tfm_free(TransformerLM *m);
// GPT-2's initialisation: weights and embeddings N(0, std^2), the two projections into the residual stream
// N(0, std^2 / (2L)), biases 0, LayerNorm weights 1.
void tfm_init_normal(TransformerLM *m, float std, Rng *rng);
void tfm_draw_masks(TransformerLM *m, int T, int N, Rng *rng); // new dropout masks for a training step
// x[N,T] -> targets y[N,T] (sequence-major). Returns the mean loss over the N*T tokens. PASS_TRAIN applies the
// current masks; PASS_TRAIN and PASS_STATS leave dLoss/dlogits for tfm_backward (PASS_STATS without dropout).
double tfm_forward(TransformerLM *m, const int *x, const int *y, int T, int N, Pass pass);
// Evaluation of positions from..T-1 of each sequence only (sliding-window perplexity: the earlier positions are
// context already scored by a previous window): the loss summed over those N*(T-from) tokens, dropout off. The
// decoder runs on the scored rows alone. m->logits is then theirs, not the window's.
double tfm_eval_loss_sum(TransformerLM *m, const int *x, const int *y, int T, int N, int from);
// Accumulates the gradient of the last training forward's mean loss into m->params.grad.
void tfm_backward(TransformerLM *m, const int *x);
long tfm_param_count(const TransformerLM *m);

#endif
