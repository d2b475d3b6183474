// Checkpoints: everything a run needs to continue exactly (parameters, optimizer state, schedule position, RNG
// states, data position, LSTM hidden state, counters) as named, typed tensors after the run's configuration text.
//
// File format, version 1. Every integer is little-endian; crc32 is zlib's (the gzip/PNG polynomial).
//   offset   bytes   field
//   0        4       magic "NNCK"
//   4        4       u32 format version (1)
//   8        4       u32 configuration length C
//   12       C       configuration text (the run's JSON object), no NUL byte
//   12+C     4       u32 tensor count N
//   16+C     4       u32 crc32 of bytes [0, 16+C): magic, version, configuration and count
//   then N tensor records, back to back:
//            4       u32 name length L, 1..255
//            L       name: printable ASCII without spaces, unique in the file ("param/rnn.weight_ih_l0")
//            4       u32 dtype: 1 f32, 2 f64, 3 i32, 4 u64, 5 bytes (element sizes 4, 8, 4, 8, 1)
//            4       u32 ndim, 0..8 (0 = a scalar, one element)
//            8*ndim  u64 dims, row-major (last index contiguous)
//            8       u64 raw length R = product of dims * element size
//            8       u64 compressed length Z
//            4       u32 crc32 of the R raw bytes (elements little-endian)
//            4       u32 crc32 of the Z compressed bytes (inflate ignores a few padding bits; this sees them)
//            4       u32 crc32 of this record's bytes from its name length up to here (name, shape, lengths)
//            Z       zlib stream (compress2's format) of the R raw bytes
//   the file ends right after the last record.
// Every byte is covered by a crc32, so a flipped bit anywhere is refused, naming the tensor it hit.
//
// Writing goes to a temporary file beside the target ("<path>.tmp.XXXXXX"), streamed tensor by tensor through
// deflate (memory: one 256 KiB buffer, never a copy of the parameters), then fsync, rename over the target, and
// fsync of the directory: a crash at any instant leaves the old checkpoint or the new one, never a broken one. Any
// write error (full disk, unwritable directory) is fatal with the path and the errno text, after removing the
// temporary file; the previous checkpoint is untouched. A process killed by SIGKILL or power loss can leave a
// stale "<path>.tmp.*" beside the checkpoint, never in its place.
//
// Reading loads the file and validates all of it (structure, every length against the file size before any
// allocation, every payload inflated and its crc32 checked) before anything is returned, so a damaged checkpoint is
// refused before it touches the model. Errors name the file, the byte offset and the tensor; every defect damage
// can cause says "is damaged" (a wrong magic or version as one of two explanations), which a mismatch of model or
// configuration never says. ckpt_open_mem and ckpt_read never exit: they return the message instead (for fuzzing
// and for trying several checkpoints); the other ckpt_get_* functions are fatal on any mismatch, naming the tensor
// and the dimension or field that differs.
//
// Not async-signal-safe (allocates, compresses): from a signal handler, set a flag and checkpoint between steps.
#ifndef NN_CHECKPOINT_H
#define NN_CHECKPOINT_H

#include "params.h"

#include <stddef.h>
#include <stdint.h>

#define CKPT_VERSION 1
#define CKPT_MAX_DIMS 8
#define CKPT_MAX_NAME 255

typedef enum { CKPT_F32 = 1, CKPT_F64 = 2, CKPT_I32 = 3, CKPT_U64 = 4, CKPT_BYTES = 5 } CkptDtype;

typedef struct CkptWriter CkptWriter;
typedef struct CkptReader CkptReader;

// ---- writing: begin, put tensors in any order, commit (or abort). Every error is fatal and names the path.
// Creates the temporary file beside `path` now, so an unwritable directory fails before any work is done.
CkptWriter *ckpt_begin(const char *path, const char *config);
// shape has ndim entries (ndim 0..8; 0 stores one scalar element, shape may be NULL); data is read immediately.
void ckpt_put_f32(CkptWriter *w, const char *name, int ndim, const int *shape, const float *data);
void ckpt_put_f64(CkptWriter *w, const char *name, int ndim, const int *shape, const double *data);
void ckpt_put_i32(CkptWriter *w, const char *name, int ndim, const int *shape, const int32_t *data);
void ckpt_put_u64(CkptWriter *w, const char *name, int ndim, const int *shape, const uint64_t *data);
void ckpt_put_bytes(CkptWriter *w, const char *name, const void *data, size_t len); // 1-D, e.g. JSON text
// One f32 tensor "<prefix><view name>" per view, its data at flat + view offset: parameters (flat = p->param) or
// any optimizer state laid out like them (Adam's m and v), e.g. prefix "param/", "adam/m/".
void ckpt_put_views(CkptWriter *w, const char *prefix, const ParamView *views, int nviews, const float *flat);
void ckpt_put_params(CkptWriter *w, const char *prefix, const Params *p); // the views of p->param
// fsync, rename over the path, fsync the directory; frees w. Refuses duplicate names.
void ckpt_commit(CkptWriter *w);
void ckpt_abort(CkptWriter *w); // removes the temporary file and frees w; the previous checkpoint stays

// ---- reading
typedef struct {
    const char *name;
    CkptDtype dtype;
    int ndim;
    uint64_t dims[CKPT_MAX_DIMS];
    uint64_t nbytes;           // raw (uncompressed) size
    size_t offset;             // of the record in the file, for messages
} CkptInfo;

CkptReader *ckpt_open(const char *path); // fatal, naming the file, offset and tensor, on any defect
// Non-fatal: validates a checkpoint held in memory (borrowed: it must outlive the reader). Returns NULL and writes
// a message naming `label` into err on any defect. Never exits on bad input; allocates at most O(file size).
CkptReader *ckpt_open_mem(const void *buf, size_t len, const char *label, char *err, size_t errcap);
void ckpt_close(CkptReader *r);
const char *ckpt_config(const CkptReader *r);     // the configuration text, NUL-terminated
int ckpt_count(const CkptReader *r);               // tensors, in file order
const CkptInfo *ckpt_info(const CkptReader *r, int i);
int ckpt_find(const CkptReader *r, const char *name); // index for ckpt_info, -1 when absent
int ckpt_has(const CkptReader *r, const char *name);

// Non-fatal: copies tensor `name` into dst if its dtype and shape are exactly these; returns 0, or -1 with a
// message (missing tensor, dtype, number of dimensions, or which dimension differs) in err.
int ckpt_read(CkptReader *r, const char *name, CkptDtype dtype, int ndim, const int *shape, void *dst, char *err,
              size_t errcap);
// Fatal versions of ckpt_read.
void ckpt_get_f32(CkptReader *r, const char *name, int ndim, const int *shape, float *dst);
void ckpt_get_f64(CkptReader *r, const char *name, int ndim, const int *shape, double *dst);
void ckpt_get_i32(CkptReader *r, const char *name, int ndim, const int *shape, int32_t *dst);
void ckpt_get_u64(CkptReader *r, const char *name, int ndim, const int *shape, uint64_t *dst);
char *ckpt_get_bytes(CkptReader *r, const char *name, size_t *len); // malloc'd, NUL-terminated; len may be NULL
// Loads every view from "<prefix><view name>"; fatal when a tensor is missing, has another shape, or when the
// checkpoint holds a tensor with that prefix that no view has (another model, or another optimizer's state).
void ckpt_get_views(CkptReader *r, const char *prefix, const ParamView *views, int nviews, float *flat);
void ckpt_get_params(CkptReader *r, const char *prefix, Params *p); // into p->param
// Fatal when some tensor was never read by ckpt_read/ckpt_get_*: state this run would silently drop.
void ckpt_expect_all_read(const CkptReader *r);

// Compares two configurations (flat JSON objects) field by field, values by their text, skipping the keys in the
// NULL-terminated list `ignore` (may be NULL), e.g. fields a resumed run may change such as "epochs". Returns 0 when
// they agree; otherwise -1 and a message naming the first field that differs or is missing in err.
int ckpt_config_diff(const char *saved, const char *current, const char *const *ignore, char *err, size_t errcap);
// Fatal version against the checkpoint's configuration.
void ckpt_check_config(const CkptReader *r, const char *current, const char *const *ignore);

#endif
