// Penn Treebank (Mikolov's preprocessed text): vocabulary, token ids, N parallel streams, T-step windows.
// N=streams (batch) T=window length (bptt)
#ifndef DATA_PTB_H
#define DATA_PTB_H

#include <stddef.h>

typedef struct {
    char **words;          // [size] id -> word; ids are assigned in order of first appearance in train
    int size;
    int *table;            // open-addressing hash table of ids, [table_cap], -1 = empty
    int table_cap;
} Vocab;

typedef struct {
    Vocab vocab;           // built from the train split; includes "<eos>" (and "<unk>", which PTB's text contains)
    int *split[3];         // token ids of train, valid, test; each line's words followed by <eos>
    long len[3];
} PtbCorpus;

enum { PTB_TRAIN = 0, PTB_VALID = 1, PTB_TEST = 2 };

// Finds the data directory: `flag` (from --data) when given, else $NNOPT_DATA, ./data, ../shared/data; the first
// that holds `probe` (a relative path such as "ptb/ptb.train.txt.gz"; a plain ".txt" without ".gz" also counts).
// A --data or $NNOPT_DATA directory that lacks the files is fatal (no silent fallback); nothing found is fatal with
// every place tried and a hint to run `make data`. Returns a malloc'd path.
char *data_find_dir(const char *flag, const char *probe);

// Loads DIR/ptb/ptb.{train,valid,test}.txt.gz (or the uncompressed .txt) through zlib. A word in valid/test that is
// not in the train vocabulary is fatal with the file and line. Bad files are fatal with the file name.
void ptb_load(PtbCorpus *c, const char *dir);
void ptb_free(PtbCorpus *c);
// ptb_load's parser, on the n bytes of split k's text (no NUL terminator needed; `path` is only named in messages):
// every line's words followed by <eos>, an unterminated last line counting as a line. The train split (k = 0,
// parsed first into a zeroed corpus) adds new words to the vocabulary; valid and test must not have any. Fuzzers
// call it on memory.
void ptb_parse(PtbCorpus *c, int k, const char *text, size_t n, const char *path, const char *train_path);
int vocab_lookup(const Vocab *v, const char *word); // -1 when absent

// The corpus order of truncated BPTT: split ids[0..n) into N streams of L = n / N tokens (the remainder is
// dropped); stream j is ids[j*L .. (j+1)*L). Window w covers positions w*T .. w*T+T'-1 of every stream, with
// T' = min(T, L-1-w*T), inputs x[t*N + j] = stream_j[w*T + t] and targets y[t*N + j] = stream_j[w*T + t + 1].
typedef struct {
    const int *ids;
    long L;                // tokens per stream
    int N, T;
    long nwindows;         // ceil((L-1) / T): the last window may be shorter
} PtbStreams;

void ptb_streams_init(PtbStreams *s, const int *ids, long n, int N, int T); // fatal if L < 2
int ptb_window(const PtbStreams *s, long w, int *x, int *y);              // fills [T'][N], returns T'

#endif
