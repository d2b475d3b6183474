// Word-level LSTM language model (Zaremba et al. 2014; PyTorch's word_language_model RNNModel):
// embedding -> dropout -> L x (LSTM -> dropout) -> linear decoder -> softmax cross-entropy (mean over tokens).
// Dropout sits only on non-recurrent connections. The hidden state carries across consecutive windows.
// V=vocabulary E=embedding size H=hidden size L=layers T=window (bptt) N=batch (streams)
#ifndef MODELS_LSTM_LM_H
#define MODELS_LSTM_LM_H

#include "nn/params.h"
#include "nn/pass.h"
#include "nn/rng.h"

#define LM_MAX_LAYERS 8

typedef struct {
    int vocab, emb, hidden, layers;   // V E H L
    int bptt, batch;                  // largest T and N any call will use (buffers are sized for T*N rows)
    float dropout;                    // probability of zeroing; 0 = off
    int tied;                         // decoder.weight is encoder.weight (needs E == H)
} LmConfig;

typedef struct {
    LmConfig cfg;
    Params params;                    // encoder.weight, rnn.{weight,bias}_{ih,hh}_l<k>, decoder.weight, decoder.bias
    int v_enc, v_dec_w, v_dec_b, v_wih[LM_MAX_LAYERS], v_whh[LM_MAX_LAYERS], v_bih[LM_MAX_LAYERS],
        v_bhh[LM_MAX_LAYERS];
    // activations for the current window, [T,N,...] row blocks
    float *emb;                       // [T,N,E] embedding output, dropped out in training
    float *mask_emb;                  // [T,N,E] dropout mask (only when dropout > 0)
    float *h[LM_MAX_LAYERS];          // [T+1,N,H] slot 0 = carried state, 1..T = outputs
    float *c[LM_MAX_LAYERS];          // [T+1,N,H]
    float *gates[LM_MAX_LAYERS];      // [T,N,4H]
    float *tanhc[LM_MAX_LAYERS];      // [T,N,H]
    float *mask[LM_MAX_LAYERS];       // [T,N,H] dropout mask on layer outputs (only when dropout > 0)
    float *drop[LM_MAX_LAYERS];       // [T,N,H] dropped-out outputs (only when dropout > 0)
    float *logits;                    // [T,N,V] logits; after a training forward, dLoss/dlogits
    // backward scratch
    float *dact[2];                   // [T,N,max(E,H)] ping-pong activation gradients
    float *dmasked;                   // [T,N,max(E,H)]
    float *dgates;                    // [T,N,4H]
    float *dstate;                    // [2,N,H]
    // carried state, detached between windows
    float *state_h, *state_c;         // [L,N,H]
    const float *top;                 // decoder input of the last forward
    int dropped;                      // whether the last forward applied dropout (PASS_TRAIN with dropout > 0)
    double bytes;                     // allocated by lm_init (parameters, gradients, activations, scratch)
} LstmLM;

void lm_init(LstmLM *m, const LmConfig *cfg);      // checks the config, declares and allocates everything
// Bytes lm_init will allocate: parameters and gradients, activations and scratch for bptt x batch rows.
double lm_memory_bytes(const LmConfig *cfg);
void lm_free(LstmLM *m);
void lm_init_uniform(LstmLM *m, float range, Rng *rng); // every parameter U(-range, range) (Zaremba)
void lm_reset_state(LstmLM *m);                    // zero hidden and cell state
void lm_draw_masks(LstmLM *m, int T, int N, Rng *rng); // new dropout masks for a training window
// Runs one window x[T,N] -> targets y[T,N] from the carried state and carries the new state on. Returns the mean
// loss over the T*N tokens. PASS_TRAIN applies the current dropout masks; PASS_TRAIN and PASS_STATS leave
// dLoss/dlogits in m->logits for lm_backward (PASS_STATS without dropout). The softmax runs on nn_get_threads().
double lm_forward(LstmLM *m, const int *x, const int *y, int T, int N, Pass pass);
// Accumulates the gradient of the mean loss of the last training forward into m->params.grad.
void lm_backward(LstmLM *m, const int *x, int T, int N);
long lm_param_count(const LstmLM *m);

#endif
