// The checkpoint reader on hostile bytes: the non-fatal parser validates the buffer; its configuration is compared
// as --resume compares it, and every tensor it accepts is read back with its own dtype and shape.
#include "fuzz.h"
#include "nn/checkpoint.h"

#include <stdlib.h>

const char *const fuzz_name = "checkpoint";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512];
    CkptReader *r = ckpt_open_mem(data, size, "fuzz input", err, sizeof err);
    if (!r) return 0;
    // the configuration as --resume compares it with the run's (ckpt_check_config's comparison, which never exits)
    static const char *const may_change[] = {"out", "threads", NULL};
    ckpt_config_diff(ckpt_config(r), "{\"seed\": 1, \"lr\": 0.1, \"out\": \"runs/x\"}", may_change, err, sizeof err);
    ckpt_config_diff(ckpt_config(r), ckpt_config(r), NULL, err, sizeof err);
    for (int i = 0; i < ckpt_count(r); i++) {
        const CkptInfo *t = ckpt_info(r, i);
        int shape[CKPT_MAX_DIMS];
        int ok = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->dims[d] > (1u << 30)) ok = 0;
            shape[d] = (int)t->dims[d];
        }
        if (!ok || t->nbytes > (64u << 20)) continue;
        void *dst = malloc(t->nbytes ? t->nbytes : 1);
        if (ckpt_read(r, t->name, t->dtype, t->ndim, shape, dst, err, sizeof err) != 0) abort(); // it validated
        free(dst);
    }
    ckpt_close(r);
    return 0;
}
