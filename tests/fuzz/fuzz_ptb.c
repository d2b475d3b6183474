// The PTB reader on hostile files: the input is split at its first two NUL bytes into train, valid and test, each
// written as ptb.<split>.txt.gz when it starts with the gzip magic, else as plain .txt.
#include "fuzz.h"
#include "data/ptb.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *const fuzz_name = "ptb";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const split[3] = {"train", "valid", "test"};
    char dir[256], name[64];
    snprintf(dir, sizeof dir, "%s/ptb", fuzz_tmpdir());
    const uint8_t *part = data, *end = data + size;
    for (int k = 0; k < 3; k++) {
        const uint8_t *stop = k < 2 ? memchr(part, 0, (size_t)(end - part)) : NULL;
        size_t n = (size_t)((stop ? stop : end) - part);
        int gz = n >= 2 && part[0] == 0x1f && part[1] == 0x8b;
        for (int z = 0; z < 2; z++) { // no stale file of the other form
            snprintf(name, sizeof name, "%s/ptb/ptb.%s.txt%s", fuzz_tmpdir(), split[k], z ? ".gz" : "");
            unlink(name);
        }
        snprintf(name, sizeof name, "ptb.%s.txt%s", split[k], gz ? ".gz" : "");
        fuzz_write(dir, name, part, n);
        part = stop ? stop + 1 : end;
    }
    if (FUZZ_GUARD()) return 0;
    PtbCorpus c;
    ptb_load(&c, fuzz_tmpdir());
    if (c.len[PTB_TRAIN] >= 2) { // windows over whatever was read
        PtbStreams s;
        ptb_streams_init(&s, c.split[PTB_TRAIN], c.len[PTB_TRAIN], 1, 3);
        int x[3], y[3];
        for (long w = 0; w < s.nwindows && w < 64; w++) ptb_window(&s, w, x, y);
    }
    ptb_free(&c);
    nn_set_fatal_hook(NULL);
    return 0;
}
