// The CIFAR-10 reader on hostile files: the input is one batch file, data.bin.gz when it starts with the gzip magic
// (so the gzip path is fuzzed too), else the raw data.bin; any whole number of records is accepted.
#include "fuzz.h"
#include "data/cifar10.h"

#include <stdio.h>
#include <string.h>

const char *const fuzz_name = "cifar";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    const char *name = gz ? "data.bin.gz" : "data.bin";
    fuzz_write(fuzz_tmpdir(), name, data, size);
    char path[256];
    snprintf(path, sizeof path, "%s/%s", fuzz_tmpdir(), name);
    static CifarSet s; // what a fatal error leaves behind (it longjmps past the free) is freed at the next input
    cifar_set_free(&s);
    if (FUZZ_GUARD()) return 0;
    cifar_read_file(&s, path, 0);
    CifarStats st = cifar_stats(&s);
    for (int c = 0; c < CIFAR_C; c++)
        if (!(st.std[c] > 0)) st.std[c] = 1; // a constant image: the assembler rightly refuses std 0
    long idx[2] = {0, s.n - 1};
    static float x[2 * CIFAR_PIXELS];
    int y[2];
    Rng rng;
    rng_seed(&rng, 1);
    cifar_batch(&s, &st, idx, 2, &rng, x, y);
    cifar_set_free(&s);
    nn_set_fatal_hook(NULL);
    return 0;
}
