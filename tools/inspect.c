// `nnopt inspect CHECKPOINT`: validates a checkpoint and lists its configuration and tensors with a crc32 of each
// tensor's data, so two checkpoints can be compared with diff (tests/kill_resume.sh does).
#include "nn/check.h"
#include "nn/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int cmd_inspect(int argc, char **argv) {
    NN_CHECK(argc == 2 && strcmp(argv[1], "--help") != 0, "usage: nnopt inspect CHECKPOINT");
    CkptReader *r = ckpt_open(argv[1]);
    printf("config %s\n", ckpt_config(r));
    static const char *const dtypes[] = {"?", "f32", "f64", "i32", "u64", "bytes"};
    for (int i = 0; i < ckpt_count(r); i++) {
        const CkptInfo *t = ckpt_info(r, i);
        int shape[CKPT_MAX_DIMS];
        char dims[128] = "";
        for (int d = 0; d < t->ndim; d++) {
            shape[d] = (int)t->dims[d];
            snprintf(dims + strlen(dims), sizeof dims - strlen(dims), "%s%llu", d ? "x" : "",
                     (unsigned long long)t->dims[d]);
        }
        void *data = nn_malloc(t->nbytes ? t->nbytes : 1);
        char err[512];
        NN_CHECK(ckpt_read(r, t->name, t->dtype, t->ndim, shape, data, err, sizeof err) == 0, "%s", err);
        printf("%-48s %-5s %-16s crc32 %08lx\n", t->name, dtypes[t->dtype], t->ndim ? dims : "scalar",
               crc32(0L, data, (uInt)t->nbytes));
        free(data);
    }
    ckpt_close(r);
    return 0;
}
