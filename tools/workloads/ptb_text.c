#include "ptb_text.h"

#include <stdio.h>
#include <stdlib.h>

void ptb_text_load(PtbText *t, const char *data, long train_tokens, long stats_tokens, long eval_tokens, int N,
                   int T) {
    char *dir = data_find_dir(data, "ptb/ptb.train.txt.gz");
    PtbCorpus *c = &t->corpus;
    ptb_load(c, dir);
    printf("data %s/ptb: vocab %d, tokens train %ld valid %ld test %ld\n", dir, c->vocab.size, c->len[PTB_TRAIN],
           c->len[PTB_VALID], c->len[PTB_TEST]);
    free(dir);
    t->train_len = c->len[PTB_TRAIN];
    if (train_tokens > 0 && train_tokens < t->train_len) {
        t->train_len = train_tokens;
        printf("note: training on the first %ld tokens of the training split only (--train-tokens)\n", t->train_len);
    }
    ptb_streams_init(&t->train, c->split[PTB_TRAIN], t->train_len, N, T);
    t->stats_len = stats_tokens > 0 && stats_tokens < t->train_len ? stats_tokens : t->train_len;
    if (eval_tokens > 0)
        printf("note: valid and test perplexities are measured on the first %ld tokens of each split only "
               "(--eval-tokens)\n", eval_tokens);
}

void ptb_text_free(PtbText *t) { ptb_free(&t->corpus); }

long ptb_text_stats_windows(const PtbText *t, int T) { return (t->stats_len - 1) / T; }
