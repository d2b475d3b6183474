// The command-line and optimizer-argument parsers on hostile arguments: the input is split at NUL bytes into
// arguments for the training commands' parser (run_config_parse: the flag tables of the trainer and of a workload,
// the first byte's low bit choosing which), and its first two pieces also name an optimizer and its
// "key=value,..." hyper-parameters (optim_create). --help and its abbreviations are dropped (fuzz_is_help).
#include "fuzz.h"
#include "optim/optimizer.h"
#include "tools/run_config.h"

#include <stdlib.h>
#include <string.h>

const char *const fuzz_name = "cli";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char *argv[66] = {"nnopt train"};
    int argc = 1;
    for (char *s = text; s <= text + size && argc < 65; s += strlen(s) + 1)
        if (!fuzz_is_help(s)) argv[argc++] = s;
    argv[argc] = NULL;
    static char *keep; // a fatal error longjmps past the free: free the previous input here instead
    free(keep);
    keep = text;
    if (FUZZ_GUARD()) return 0;
    Optimizer *o = optim_create(argv[1] ? argv[1] : "", argc > 2 ? argv[2] : "");
    optim_free(o);
    RunConfig cfg;
    run_config_parse(&cfg, argc, argv, "nnopt train", size && (data[0] & 1) ? "cifar-resnet" : "ptb-lstm");
    free(run_config_json(&cfg));
    run_config_free(&cfg);
    nn_set_fatal_hook(NULL);
    return 0;
}
