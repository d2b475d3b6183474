# nnopt: `make` builds build/libnnopt.a and ./nnopt; `make test`, `make run` (nnopt compare), `make check`,
# `make bench`, `make data`.
# EXTRA_CFLAGS=-Werror (CI) adds flags; OPT, SAN and BUILD select optimisation, sanitizers and the build tree.
CC      ?= cc
BUILD   ?= build
OPT     ?= -O3
PKGS    := gcc make pkg-config libopenblas-dev zlib1g-dev libcmocka-dev curl
RUN_PKGS := gnuplot-nox # `make run` draws its figures with gnuplot
# -march=native only where the compiler accepts it (probed once).
MARCH   := $(shell $(CC) -march=native -x c -c -o /dev/null /dev/null 2>/dev/null && echo -march=native)
# Deferred (=) so pkg-config runs after `deps` has installed what it needs.
PKG_CFLAGS = $(shell pkg-config --cflags openblas zlib)
PKG_LIBS   = $(shell pkg-config --libs openblas zlib)
# -fno-trapping-math and -fno-math-errno let float selects and sqrtf vectorise; values are unchanged (no -ffast-math).
CFLAGS  += -std=c11 $(OPT) -g -Wall -Wextra -fno-trapping-math -fno-math-errno $(MARCH) $(SAN) -MMD -MP -I. $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS += $(SAN)
LDLIBS   = $(PKG_LIBS) -lm -lpthread

LIB_SRC  := $(wildcard nn/*.c optim/*.c data/*.c models/*.c)
TOOL_SRC := $(wildcard tools/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
TSUP_SRC := $(filter-out tests/test_%.c,$(wildcard tests/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o)
TSUP_OBJ := $(TSUP_SRC:%.c=$(BUILD)/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_SH  := $(wildcard tests/test_*.sh)
LIB      := $(BUILD)/libnnopt.a
NNOPT    := $(if $(filter build,$(BUILD)),nnopt,$(BUILD)/nnopt)

.PHONY: all deps run-deps tests test check run bench data clean
.SECONDARY: # keep tests' objects: they are intermediate files to make
all: $(NNOPT)
	@echo "built $(NNOPT) with $(CC) $(OPT) $(MARCH) $(SAN), openblas $(shell pkg-config --modversion openblas)"

deps:
	@scripts/deps.sh $(PKGS)

run-deps:
	@scripts/deps.sh $(PKGS) $(RUN_PKGS)

$(BUILD)/%.o: %.c Makefile | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	$(AR) rcs $@ $^

$(NNOPT): $(TOOL_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TSUP_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(LDLIBS)

tests: $(TESTS) $(NNOPT)

test: $(TESTS) $(NNOPT)
	@NNOPT=./$(NNOPT) tests/run.sh $(TESTS) $(TEST_SH)

# Address and undefined-behaviour sanitizers over the whole suite, in a separate build tree.
check:
	$(MAKE) BUILD=build-san OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" test

# The main job: SGD, clipped SGD, Adam and ACClip on the toy LM with exact gradient statistics (a few minutes).
run: run-deps $(NNOPT)
	./$(NNOPT) compare --out runs/compare

bench: $(NNOPT)
	bench/run.sh ./$(NNOPT)

data:
	scripts/fetch_data.sh data

clean:
	rm -rf build build-san nnopt

-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(TSUP_OBJ:.o=.d) $(TESTS:=.d)
