#!/bin/sh
# Writes OUT, a C header naming the commit and the build (tools/provenance.c reads it), only when its text changes,
# so that only provenance.o rebuilds after a commit. Usage: build_info.sh OUT CC CFLAGS...
set -eu
out=$1 cc=$2
shift 2
commit=unknown
if rev=$(git rev-parse --short=12 HEAD 2>/dev/null); then
    commit=$rev
    [ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || commit=$rev-dirty
fi
# C string literals: backslashes and quotes escaped
quote() { printf '%s' "$*" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
text=$(printf '#define NNOPT_COMMIT "%s"\n#define NNOPT_CC "%s"\n#define NNOPT_CFLAGS "%s"\n' \
    "$(quote "$commit")" "$(quote "$cc")" "$(quote "$*")")
if [ ! -f "$out" ] || [ "$(cat "$out")" != "$text" ]; then
    mkdir -p "$(dirname "$out")"
    printf '%s\n' "$text" > "$out.tmp" && mv "$out.tmp" "$out"
fi
