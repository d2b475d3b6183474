#include "embedding.h"

#include <string.h>

void embedding_forward(float *out, const int *ids, const float *w, int N, int E) {
    for (int n = 0; n < N; n++) memcpy(out + (long)n * E, w + (long)ids[n] * E, (size_t)E * sizeof(float));
}

void embedding_backward(float *dw, const float *dout, const int *ids, int N, int E) {
    for (int n = 0; n < N; n++) {
        float *row = dw + (long)ids[n] * E;
        const float *d = dout + (long)n * E;
        for (int e = 0; e < E; e++) row[e] += d[e];
    }
}
