// Sweep specifications on hostile input (tools/sweep_spec.c and tools/grid.c). The first byte chooses: even, the
// rest is split at NUL bytes into `nnopt sweep` arguments for sweep_spec_parse (methods, --grid axes as lists and
// log:/lin: ranges, --seeds, --max-runs, ...); odd, the rest is a sweep.json for sweep_spec_from_json, as a
// continued sweep reads it back. A spec is either refused with a fatal error or goes through what a sweep does with
// it: its points' flags and escaped run names (distinct for distinct points), and its sweep.json, which must read
// back to a spec that writes the same text. A mismatch aborts, which libFuzzer reports as a crash.
#include "fuzz.h"
#include "tools/sweep.h"

#include <stdlib.h>
#include <string.h>

const char *const fuzz_name = "grid";

enum { MAX_POINTS = 24 }; // points named per method: the first ones, then the last

static void expect(int ok) {
    if (!ok) abort();
}

// sweep's runtime flags take a value or none and are not part of the spec; two stand-ins exercise both
static int runtime(void *ctx, int argc, char **argv, int i) {
    (void)ctx;
    if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc) return 2;
    return strcmp(argv[i], "--list") == 0;
}

static void use_points(const SweepSpec *s) {
    for (int m = 0; m < s->nmethods; m++) {
        long np = sweep_points(s, m);
        char *names[MAX_POINTS + 1];
        int n = 0;
        for (long p = 0; p < np; p++) {
            if (p == MAX_POINTS && np > MAX_POINTS + 1) p = np - 1; // the first points, then the last
            int nf;
            char **flags = sweep_point_flags(s, m, p, &nf);
            for (int k = 0; k < nf; k++) free(flags[k]);
            free(flags);
            names[n] = sweep_point_name(s, m, p);
            for (int q = 0; q < n; q++) expect(strcmp(names[q], names[n]) != 0);
            n++;
        }
        for (int q = 0; q < n; q++) free(names[q]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 8192) return 0;
    static char *text;   // what a fatal error leaves behind (it longjmps past the frees) is freed at the next input
    static SweepSpec s;
    free(text);
    sweep_spec_free(&s);
    text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    if (FUZZ_GUARD()) return 0;
    if (data[0] % 2 == 0) {
        char *argv[130] = {"nnopt sweep"};
        int argc = 1;
        for (char *a = text; a < text + size && argc < 129; a += strlen(a) + 1) argv[argc++] = a;
        argv[argc] = NULL;
        sweep_spec_parse(&s, argc, argv, runtime, NULL);
        for (int m = 0; m < s.nmethods; m++) // names and their escapes are what run directories are called
            for (int k = 0; k < s.methods[m].naxes; k++) free(grid_escape(s.methods[m].axes[k].name));
    } else {
        sweep_spec_from_json(&s, text, "sweep.json");
    }
    use_points(&s);
    nn_set_fatal_hook(NULL); // written, a spec must read back
    char *json = sweep_spec_json(&s);
    SweepSpec back;
    sweep_spec_from_json(&back, json, "sweep.json (written)");
    char *again = sweep_spec_json(&back);
    expect(strcmp(json, again) == 0);
    free(json), free(again);
    sweep_spec_free(&back);
    return 0;
}
