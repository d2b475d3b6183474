// Penn Treebank: data directory search, vocabulary (open-addressing hash table), token ids, streams and windows.
// N=streams (batch) T=window length (bptt) L=tokens per stream
#define _POSIX_C_SOURCE 200809L
#include "ptb.h"

#include "nn/check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *split_name[3] = {"train", "valid", "test"};

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

// DIR/probe exists, or DIR/probe without its ".gz" (the loader reads both).
static int has_probe(const char *dir, const char *probe) {
    char *p = nn_join_path(dir, probe);
    size_t n = strlen(p);
    int ok = is_file(p);
    if (!ok && n > 3 && strcmp(p + n - 3, ".gz") == 0) {
        p[n - 3] = '\0';
        ok = is_file(p);
    }
    free(p);
    return ok;
}

// An explicitly chosen directory must hold the data: falling back silently would train on something else.
static void require_probe(const char *dir, const char *probe, const char *how) {
    if (has_probe(dir, probe)) return;
    NN_FATAL("data directory '%s' (%s) %s '%s' (or its uncompressed form); it must be the root holding ptb/ and "
             "cifar10/: point it elsewhere, or fetch the data with 'make data' (scripts/fetch_data.sh '%s')",
             dir, how, is_dir(dir) ? "does not hold" : "does not exist, so it has no", probe, dir);
}

char *data_find_dir(const char *flag, const char *probe) {
    if (flag && *flag) {
        require_probe(flag, probe, "from --data");
        return nn_strdup(flag);
    }
    const char *env = getenv("NNOPT_DATA");
    if (env && *env) {
        require_probe(env, probe, "from $NNOPT_DATA");
        return nn_strdup(env);
    }
    // Relative to the current directory: the repo root normally, so ../shared/data is the machine's shared copy.
    static const char *const places[] = {"./data", "../shared/data"};
    for (size_t i = 0; i < sizeof places / sizeof *places; i++)
        if (has_probe(places[i], probe)) return nn_strdup(places[i]);
    NN_FATAL("cannot find '%s' (or its uncompressed form); tried --data (not given), $NNOPT_DATA (not set), "
             "./data and ../shared/data relative to the current directory; run 'make data' to download it into "
             "./data, or pass --data DIR", probe);
}

// FNV-1a over the word's bytes.
static uint32_t hash_word(const char *s, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

// The slot holding `s` (len bytes, no NUL needed), or the empty slot where it would go.
static int *vocab_slot(const Vocab *v, const char *s, size_t len, uint32_t h) {
    uint32_t mask = (uint32_t)v->table_cap - 1; // table_cap is a power of two
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        int id = v->table[i];
        if (id < 0 || (strncmp(v->words[id], s, len) == 0 && v->words[id][len] == '\0')) return &v->table[i];
    }
}

// Invariant: words has room for table_cap/2 entries, so the table is never more than half full.
static void vocab_grow(Vocab *v) {
    int cap = v->table_cap ? 2 * v->table_cap : 1024;
    NN_CHECK(cap > 0 && cap <= (1 << 30), "vocabulary too large (%d words)", v->size);
    free(v->table);
    v->table = nn_malloc((size_t)cap * sizeof *v->table);
    for (int i = 0; i < cap; i++) v->table[i] = -1;
    v->table_cap = cap;
    v->words = nn_realloc(v->words, (size_t)(cap / 2) * sizeof *v->words);
    for (int id = 0; id < v->size; id++) {
        const char *w = v->words[id];
        size_t len = strlen(w);
        *vocab_slot(v, w, len, hash_word(w, len)) = id;
    }
}

int vocab_lookup(const Vocab *v, const char *word) {
    if (v->table_cap == 0) return -1;
    size_t len = strlen(word);
    return *vocab_slot(v, word, len, hash_word(word, len));
}

// Returns the id of s[0..len); adds it when `add`, else returns -1 for an unknown word.
static int vocab_id(Vocab *v, const char *s, size_t len, int add) {
    if (v->table_cap == 0) {
        if (!add) return -1;
        vocab_grow(v);
    }
    uint32_t h = hash_word(s, len);
    int *slot = vocab_slot(v, s, len, h);
    if (*slot >= 0 || !add) return *slot;
    if (v->size == v->table_cap / 2) {
        vocab_grow(v);
        slot = vocab_slot(v, s, len, h);
    }
    char *w = memcpy(nn_malloc(len + 1), s, len);
    w[len] = '\0';
    v->words[v->size] = w;
    return *slot = v->size++;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

void ptb_parse(PtbCorpus *c, int k, const char *text, size_t n, const char *path, const char *train_path) {
    NN_CHECK(n > 0, "'%s' is empty; expected Penn Treebank text, one sentence per line (re-download it with "
             "'make data')", path);
    const char *nul = memchr(text, '\0', n);
    NN_CHECK(!nul, "'%s' holds a NUL byte at offset %zu: not a text file; expected Penn Treebank text, one "
             "sentence per line (re-download it with 'make data')", path, (size_t)(nul - text));
    long len = 0, line = 1;
    // Every token but a final <eos> ends at a byte of its own, so n + 1 ids always fit. c holds them at once, so
    // that ptb_free releases them after a fatal error a fuzzer caught.
    int *ids = c->split[k] = nn_malloc((n + 1) * sizeof *ids);
    for (size_t i = 0; i < n;) {
        if (is_space(text[i])) {
            i++;
        } else if (text[i] == '\n') {
            ids[len++] = vocab_id(&c->vocab, "<eos>", 5, k == PTB_TRAIN);
            i++, line++;
        } else {
            size_t start = i;
            while (i < n && text[i] != '\n' && !is_space(text[i])) i++;
            int id = vocab_id(&c->vocab, text + start, i - start, k == PTB_TRAIN);
            if (id < 0) // (a garbage "word" is cut at 80 bytes)
                NN_FATAL("'%s' line %ld: word '%.*s' is not in the vocabulary of the train split '%s' (%d words); "
                         "valid and test must use train's vocabulary (PTB maps rare words to <unk>)", path, line,
                         i - start < 80 ? (int)(i - start) : 80, text + start, train_path, c->vocab.size);
            ids[len++] = id;
        }
    }
    // train is non-empty, so it ends at least one line: <eos> is always in the vocabulary for valid and test
    if (text[n - 1] != '\n') ids[len++] = vocab_id(&c->vocab, "<eos>", 5, k == PTB_TRAIN);
    c->split[k] = nn_realloc(ids, (size_t)len * sizeof *ids);
    c->len[k] = len;
}

void ptb_load(PtbCorpus *c, const char *dir) {
    memset(c, 0, sizeof *c);
    char *path[3];
    for (int k = 0; k < 3; k++) {
        size_t n = strlen(dir) + 32;
        path[k] = nn_malloc(n);
        snprintf(path[k], n, "%s/ptb/ptb.%s.txt.gz", dir, split_name[k]);
        if (is_file(path[k])) continue;
        path[k][strlen(path[k]) - 3] = '\0'; // the plain .txt
        NN_CHECK(is_file(path[k]), "missing '%s.gz' (and '%s'): the Penn Treebank %s split; run 'make data' "
                 "(scripts/fetch_data.sh) to download it, or pass --data pointing at a directory holding ptb/",
                 path[k], path[k], split_name[k]);
    }
    for (int k = 0; k < 3; k++) {
        nn_check_gzip_magic(path[k]);
        size_t n;
        char *text = nn_read_gz(path[k], &n);
        ptb_parse(c, k, text, n, path[k], path[PTB_TRAIN]);
        free(text);
    }
    for (int k = 0; k < 3; k++) free(path[k]);
}

void ptb_free(PtbCorpus *c) {
    for (int i = 0; i < c->vocab.size; i++) free(c->vocab.words[i]);
    free(c->vocab.words);
    free(c->vocab.table);
    for (int k = 0; k < 3; k++) free(c->split[k]);
    memset(c, 0, sizeof *c);
}

void ptb_streams_init(PtbStreams *s, const int *ids, long n, int N, int T) {
    NN_CHECK(N >= 1 && T >= 1, "streams need N >= 1 and T >= 1 (got N=%d, T=%d)", N, T);
    long L = n / N;
    NN_CHECK(L >= 2, "%ld tokens are too few for %d streams: each stream needs at least 2 tokens (one input and "
             "its target), so at least %ld tokens; use a smaller batch", n, N, 2L * N);
    *s = (PtbStreams){.ids = ids, .L = L, .N = N, .T = T, .nwindows = (L - 1 + T - 1) / T};
}

int ptb_window(const PtbStreams *s, long w, int *x, int *y) {
    NN_CHECK(w >= 0 && w < s->nwindows, "window %ld is out of range (0..%ld)", w, s->nwindows - 1);
    long start = w * s->T, N = s->N, L = s->L;
    int Tw = (int)(L - 1 - start < s->T ? L - 1 - start : s->T);
    for (int t = 0; t < Tw; t++)
        for (long j = 0; j < N; j++) {
            const int *p = s->ids + j * L + start + t;
            x[t * N + j] = p[0];
            y[t * N + j] = p[1];
        }
    return Tw;
}
