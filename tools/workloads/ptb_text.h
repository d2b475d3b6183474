// What the two PTB workloads (ptb-lstm, ptb-transformer) share: the corpus found and loaded, the training text cut
// to --train-tokens and into N streams of T-token windows (data/ptb.h), the exact statistics' text (a prefix of the
// training text, --stats-tokens), and the lines a run prints about each.
#ifndef TOOLS_WORKLOADS_PTB_TEXT_H
#define TOOLS_WORKLOADS_PTB_TEXT_H

#include "data/ptb.h"

typedef struct {
    PtbCorpus corpus;
    long train_len, stats_len; // training tokens after --train-tokens; the statistics' text, a prefix of them
    PtbStreams train;          // N streams of the training text, read in T-token windows
} PtbText;

// Loads the corpus from --data (or the usual places; data_find_dir). 0 for train_tokens, stats_tokens or
// eval_tokens means all of it; eval_tokens only decides the note printed.
void ptb_text_load(PtbText *t, const char *data, long train_tokens, long stats_tokens, long eval_tokens, int N, int T);
void ptb_text_free(PtbText *t);
// The statistics' components: windows of T tokens of the statistics' text.
long ptb_text_stats_windows(const PtbText *t, int T);

#endif
