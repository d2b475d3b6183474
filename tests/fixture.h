// Reader for the PyTorch reference fixtures in tests/ref/*.bin (written by tests/ref/make_fixtures.py, whose header
// lists every file, tensor name and shape) and the element-wise comparison the tests report with.
//
// Format (little-endian): "NNFX", uint32 version = 1, uint32 count, then per tensor: uint32 name_len, name bytes
// (no NUL), uint32 dtype (0 = float32, 1 = int32), uint32 ndim (1..4), int32 dims[ndim], prod(dims) 4-byte elements.
// A scalar is ndim 1, dims [1]. Tests run from the repository root and open "tests/ref/NAME.bin".
//
// Every defect of a file (missing, bad magic or version, truncated, unknown dtype, absurd sizes, duplicate names,
// trailing bytes) is a fatal error naming the file, through nn/check.h.
#ifndef TESTS_FIXTURE_H
#define TESTS_FIXTURE_H

enum { FX_F32 = 0, FX_I32 = 1 };

typedef struct {
    char name[64];   // NUL-terminated
    int dtype;       // FX_F32 or FX_I32
    int ndim;        // 1..4
    int shape[4];    // shape[0..ndim-1]; the unused trailing entries are 1
    long size;       // number of elements, prod(shape)
    float *f;        // [size] when dtype == FX_F32, else NULL
    int *i;          // [size] when dtype == FX_I32, else NULL
} FxTensor;

typedef struct { FxTensor *t; int n; } Fixture;

void fx_load(Fixture *fx, const char *path);
// Fatal, listing the names the fixture has, when `name` is absent.
const FxTensor *fx_get(const Fixture *fx, const char *name);
void fx_free(Fixture *fx);

// Compares got against want element-wise: an element fails when |got-want| > atol + rtol*|want| (a NaN anywhere
// fails). Prints one TAP comment line "# <what>: n=<n> max_abs=<..> max_rel=<..> (rtol=<..> atol=<..>)", with
// " FAIL <k> of <n>" appended on failure followed by up to 5 lines "#   [idx] got=<..> want=<..>" (the first failing
// elements). max_rel is max |got-want|/|want| over the elements with want != 0. Returns the number of failing
// elements (0 = match).
long fx_compare(const char *what, const float *got, const float *want, long n, double rtol, double atol);

#endif
