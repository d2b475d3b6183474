# nnopt: `make` builds build/libnnopt.a and ./nnopt; `make test`, `make run` (scripts/run.sh: a sweep and its
# report), `make check`, `make bench`, `make data`.
# EXTRA_CFLAGS=-Werror (CI) adds flags; OPT, SAN and BUILD select optimisation, sanitizers and the build tree.
CC      ?= cc
# MPI=1: the MPI-enabled program (tools/dist.h), in its own tree: build-mpi/nnopt, run with mpirun
MPI     ?=
BUILD   ?= $(if $(MPI),build-mpi,build)
OPT     ?= -O3
PKGS    := gcc make pkg-config libopenblas-dev zlib1g-dev libcjson-dev libcmocka-dev curl
RUN_PKGS := gnuplot-nox # `make run` draws its figures with gnuplot
# -march=native only where the compiler accepts it (probed once).
MARCH   := $(shell $(CC) -march=native -x c -c -o /dev/null /dev/null 2>/dev/null && echo -march=native)
# Deferred (=) so pkg-config runs after `deps` has installed what it needs.
MPI_PKGS := openmpi-bin libopenmpi-dev
PKG_MODS := openblas zlib libcjson $(if $(MPI),ompi-c)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKG_MODS)) $(if $(MPI),-DNNOPT_MPI)
PKG_LIBS   = $(shell pkg-config --libs $(PKG_MODS))
# -fno-trapping-math and -fno-math-errno let float selects and sqrtf vectorise; values are unchanged (no -ffast-math).
# -ffp-contract=off: no multiply-add fused unless the code asks for it, as gcc does for ISO C; clang would otherwise
# fuse some and the same-bits tests of the kernels against the plain loops would fail under clang.
CFLAGS  += -std=c11 $(OPT) -g -Wall -Wextra -fno-trapping-math -fno-math-errno -ffp-contract=off $(MARCH) $(SAN) -MMD -MP -I. -I$(BUILD) $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS += $(SAN)
LDLIBS   = $(PKG_LIBS) -lm -lpthread

LIB_SRC  := $(wildcard nn/*.c optim/*.c data/*.c models/*.c)
TOOL_SRC := $(wildcard tools/*.c tools/workloads/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
TSUP_SRC := $(filter-out tests/test_%.c,$(wildcard tests/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o)
TSUP_OBJ := $(TSUP_SRC:%.c=$(BUILD)/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_SH  := $(wildcard tests/test_*.sh)
LIB      := $(BUILD)/libnnopt.a
NNOPT    := $(if $(filter build,$(BUILD)),nnopt,$(BUILD)/nnopt)
# fuzz targets (tests/fuzz): libFuzzer binaries for `make fuzz`, and replay programs that run the committed corpus
# in `make test`
FUZZ_TARGETS := ptb cifar checkpoint cli flags grid report
FUZZ_RUNS    ?= 0
FUZZ_SECONDS ?= $(if $(filter 0,$(FUZZ_RUNS)),60,0)
# -fno-sanitize-recover: an undefined-behaviour report stops the target, so libFuzzer keeps the input
FUZZ_SAN     := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_PKGS    := clang libclang-rt-dev
FUZZ_SUPPORT := $(BUILD)/tests/fuzz/fuzz_common.o $(filter-out $(BUILD)/tools/nnopt.o,$(TOOL_OBJ))
REPLAYS  := $(FUZZ_TARGETS:%=$(BUILD)/tests/fuzz_replay_%)

.PHONY: FORCE all deps run-deps fuzz-deps tests test check memcheck run bench bench-mpi data fuzz fuzz-minimize fuzzers clean
.SECONDARY: # keep tests' objects: they are intermediate files to make
all: $(NNOPT)
	@echo "built $(NNOPT) with $(CC) $(OPT) $(MARCH) $(SAN), openblas $(shell pkg-config --modversion openblas)"

deps:
	@scripts/deps.sh $(PKGS) $(if $(MPI),$(MPI_PKGS))

run-deps:
	@scripts/deps.sh $(PKGS) $(RUN_PKGS)

$(BUILD)/%.o: %.c Makefile | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The commit, compiler and flags that every summary.json records (tools/provenance.c): checked on every make,
# rewritten (and provenance.o rebuilt) only when they change.
BUILD_INFO := $(BUILD)/build_info.h
$(BUILD_INFO): FORCE
	@scripts/build_info.sh $@ "$(CC)" $(CFLAGS)
$(BUILD)/tools/provenance.o: $(BUILD_INFO)
FORCE:

$(LIB): $(LIB_OBJ)
	$(AR) rcs $@ $^

$(NNOPT): $(TOOL_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TSUP_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(filter-out $(LIB),$^) $(LIB) -lcmocka $(LDLIBS)

# test_flags tests tools/ code, which is not in the library
$(BUILD)/tests/test_flags: $(BUILD)/tools/flags.o $(BUILD)/tools/cli.o
$(BUILD)/tests/test_run_lock: $(BUILD)/tools/run_lock.o $(BUILD)/tools/provenance.o $(BUILD)/tools/cli.o \
                              $(BUILD)/tools/dist.o
$(BUILD)/tests/test_sweep: $(filter-out $(BUILD)/tools/nnopt.o,$(TOOL_OBJ))
# test_transformer counts the library's allocations in a training step
$(BUILD)/tests/test_transformer: LDFLAGS += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc

$(BUILD)/tests/fuzz_replay_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay.o $(FUZZ_SUPPORT) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Where OpenMPI is installed, the tests also build the MPI program (in $(BUILD)-mpi) and run tests/test_mpi.sh
# with it; elsewhere that test reports itself skipped.
HAVE_MPI  := $(shell command -v mpicc >/dev/null 2>&1 && pkg-config --exists ompi-c 2>/dev/null && echo 1)
MPI_NNOPT := $(if $(MPI),$(NNOPT),$(if $(HAVE_MPI),$(BUILD)-mpi/nnopt))
ifeq ($(MPI),)
$(BUILD)-mpi/nnopt: FORCE
	@$(MAKE) --no-print-directory MPI=1 BUILD=$(BUILD)-mpi all
endif

tests: $(TESTS) $(REPLAYS) $(NNOPT) $(MPI_NNOPT)

test: $(TESTS) $(REPLAYS) $(NNOPT) $(MPI_NNOPT)
	@NNOPT=./$(NNOPT) NNOPT_MPI=$(if $(MPI_NNOPT),./$(MPI_NNOPT)) tests/run.sh $(TESTS) $(REPLAYS) $(TEST_SH)

# libFuzzer on each target in turn, with ASan and UBSan, for FUZZ_SECONDS (60) seconds, or FUZZ_RUNS executions
# (then no time limit unless FUZZ_SECONDS is given too): `make fuzz FUZZ_RUNS=10000000`. Findings go to
# build-fuzz/findings/, new inputs to build-fuzz/corpus/, the figures to build-fuzz/fuzz.txt (tests/fuzz/run.sh).
# fuzz-minimize merges those inputs into tests/fuzz/corpus/ and minimises it (tests/fuzz/minimize.sh).
fuzz-deps:
	@scripts/deps.sh $(PKGS) $(FUZZ_PKGS)

fuzz: fuzz-deps
	$(MAKE) BUILD=build-fuzz CC=clang OPT=-O1 SAN="$(FUZZ_SAN)" fuzzers
	tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_RUNS) $(FUZZ_TARGETS)

fuzz-minimize: fuzz-deps
	$(MAKE) BUILD=build-fuzz CC=clang OPT=-O1 SAN="$(FUZZ_SAN)" fuzzers
	tests/fuzz/minimize.sh build-fuzz $(FUZZ_TARGETS)

# valgrind memcheck over tiny training runs and a resume (tests/memcheck.sh), in a build without -march=native:
# valgrind 3.19 does not decode AVX-512 instructions
memcheck:
	@scripts/deps.sh valgrind
	$(MAKE) BUILD=build-memcheck MARCH= all
	tests/memcheck.sh build-memcheck/nnopt

fuzzers: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)

$(BUILD)/fuzz/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_SUPPORT) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

# Address and undefined-behaviour sanitizers over the whole suite, in a separate build tree.
check:
	$(MAKE) BUILD=build-san OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" test

# The main job: the comparison protocol at toy scale, a sweep and its report (scripts/run.sh; about 5 minutes).
run: run-deps $(NNOPT)
	NNOPT=./$(NNOPT) scripts/run.sh

bench: $(NNOPT)
	bench/run.sh ./$(NNOPT) README.md

# Data parallelism: 2 MPI ranks against one process, and the model of zaremba-medium on P nodes (bench/mpi.sh, about
# 10 minutes alone on the machine); rewrites the README's MPI tables
bench-mpi: $(NNOPT)
	@scripts/deps.sh $(MPI_PKGS)
	$(MAKE) --no-print-directory MPI=1 BUILD=$(BUILD)-mpi all
	bench/mpi.sh ./$(NNOPT) ./$(BUILD)-mpi/nnopt README.md

data:
	scripts/fetch_data.sh data

clean:
	rm -rf build build-san build-clang build-fuzz build-memcheck build-bitcmp nnopt

-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(TSUP_OBJ:.o=.d) $(TESTS:=.d) $(wildcard $(BUILD)/tests/fuzz/*.d)
