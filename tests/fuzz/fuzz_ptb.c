// The PTB reader on hostile bytes: the input is split at its first two NUL bytes into the train, valid and test
// texts, each copied to a buffer of its own size (so that ASan sees a read past its end). A text that starts with
// the gzip magic is written to a file and read back by nn_read_gz, as ptb_load reads ptb.<split>.txt.gz (zlib's
// checks on hostile gzip); the others go to ptb_parse from memory, as ptb_load does once a file is read. Writing
// and reading three files on every input held the target to 450 executions/s; the parser is the same.
#include "fuzz.h"
#include "data/ptb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const fuzz_name = "ptb";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const split[3] = {"train", "valid", "test"};
    // what a fatal error leaves behind (it longjmps past the frees) is freed at the next input
    static PtbCorpus c;
    static char *text[3];
    ptb_free(&c);
    for (int k = 0; k < 3; k++) free(text[k]), text[k] = NULL;

    char path[3][256];
    size_t len[3];
    int gz[3];
    const uint8_t *part = data, *end = data + size;
    for (int k = 0; k < 3; k++) {
        const uint8_t *stop = k < 2 ? memchr(part, 0, (size_t)(end - part)) : NULL;
        len[k] = (size_t)((stop ? stop : end) - part);
        gz[k] = len[k] >= 2 && part[0] == 0x1f && part[1] == 0x8b;
        snprintf(path[k], sizeof path[k], "%s/ptb.%s.txt%s", fuzz_tmpdir(), split[k], gz[k] ? ".gz" : "");
        if (gz[k]) fuzz_write(fuzz_tmpdir(), strrchr(path[k], '/') + 1, part, len[k]);
        else text[k] = memcpy(malloc(len[k] ? len[k] : 1), part, len[k]);
        part = stop ? stop + 1 : end;
    }
    if (FUZZ_GUARD()) return 0;
    for (int k = 0; k < 3; k++) {
        if (gz[k]) text[k] = nn_read_gz(path[k], &len[k]);
        ptb_parse(&c, k, text[k], len[k], path[k], path[PTB_TRAIN]);
    }
    PtbStreams s;
    ptb_streams_init(&s, c.split[PTB_TRAIN], c.len[PTB_TRAIN], 1, 3); // windows over whatever was read
    int x[3], y[3];
    for (long w = 0; w < s.nwindows && w < 64; w++) ptb_window(&s, w, x, y);
    nn_set_fatal_hook(NULL);
    return 0;
}
