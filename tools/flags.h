// One table of flags. Each row is a flag: its name, type, field, accepted range, default, help text, and whether
// --resume may change it. Parsing (getopt_long), --help, range errors, the JSON configuration (cJSON) and the resume
// rules all come from the rows, so a flag is written once. A run's flags are several tables over several structs:
// the trainer's own (tools/run_config.h) and its workload's (tools/workloads/).
#ifndef TOOLS_FLAGS_H
#define TOOLS_FLAGS_H

#include <stddef.h>
#include <stdio.h>

struct cJSON;

typedef enum {
    FLAG_INT,     // int
    FLAG_LONG,    // long
    FLAG_FLOAT,   // float
    FLAG_U64,     // uint64_t (seeds): any non-negative integer
    FLAG_STRING,  // const char *, pointing into argv (or the default's text)
    FLAG_SET,     // int, no value: the flag sets it to 1 (--tied)
    FLAG_CLEAR,   // int, no value: the flag sets it to 0 (--no-augment clears augment, default 1)
    FLAG_INTS,    // IntList: comma-separated integers
    FLAG_DOUBLES, // DoubleList: comma-separated numbers
    FLAG_EPOCHS,  // IntList: comma-separated epochs, or "all"
} FlagType;

enum {
    FLAG_RESUMABLE = 1, // --resume may change it (how long a run goes, where it writes, its threads)
    FLAG_NO_JSON = 2,   // not part of the configuration (--resume itself)
};

#define FLAG_MAX_LIST 8
typedef struct {
    int n, all; // all: "all" (FLAG_EPOCHS)
    int v[FLAG_MAX_LIST];
} IntList;
typedef struct {
    int n;
    double v[FLAG_MAX_LIST];
} DoubleList;

typedef struct {
    const char *name;  // without "--"
    FlagType type;
    size_t offset;     // of the field in the struct the table describes
    double lo, hi;     // accepted range of a number, or of every item of a list
    const char *def;   // default, as command-line text (NULL: zero, empty list, NULL string)
    int rules;         // FLAG_RESUMABLE | FLAG_NO_JSON
    const char *arg;   // the value's name in --help ("N", "X", "NAME"); NULL for FLAG_SET and FLAG_CLEAR
    const char *help;
} FlagSpec;

// A table and the struct its offsets point into.
typedef struct {
    const FlagSpec *rows;
    int n;
    void *base;
    const char *title; // its heading in --help
} FlagTable;

#define FLAG_MAX_TABLES 3

// Sets every field of the tables to its default.
void flags_defaults(const FlagTable *t, int nt);
// Sets one flag from its text; fatal, naming flag and value and what is accepted, when it is out of range. Returns 0
// when no table has the name.
int flags_set(const FlagTable *t, int nt, const char *name, const char *value);
// Parses argv[1..argc) (long options only, abbreviations refused when ambiguous) into the tables. `skip` names flags
// handled elsewhere (NULL-terminated, e.g. "preset"), accepted with a value and ignored. --help prints the usage
// (usage_head, then the tables) and exits 0; bad input is fatal with the usage on stderr.
void flags_parse(const FlagTable *t, int nt, int argc, char **argv, const char *const *skip, const char *prog,
                 const char *usage_head);
void flags_usage(FILE *out, const FlagTable *t, int nt, const char *prog, const char *usage_head);
// Adds every flag except FLAG_NO_JSON ones to a JSON object, keys with '-' as '_' (FLAG_CLEAR: the field's name is
// its key: no-augment -> "augment"). Floats are written with the fewest digits that read back as the same float.
void flags_to_json(const FlagTable *t, int nt, struct cJSON *obj);
#define FLAG_KEY_MAX 64
// The JSON keys of the FLAG_RESUMABLE rows (the checkpoint's may_change): at most max - 1 of them, written into
// store[0..] and pointed to by keys[0..], then a NULL; returns the count. Fatal when there are more.
int flags_resumable_keys(const FlagTable *t, int nt, char (*store)[FLAG_KEY_MAX], const char **keys, int max);
// The JSON key of a row ("max-steps" -> "max_steps") into buf.
const char *flags_key(const FlagSpec *f, char *buf, size_t n);

#endif
