#!/bin/sh
# `make data` (scripts/fetch_data.sh) against a local file:// mirror made from ../shared/data: it installs verified
# files the loader reads, and refuses a download whose sha256 differs. TAP output. CIFAR-10 is pre-placed as
# links to the shared copies, so the script verifies and keeps it instead of downloading.
SHARED=${NNOPT_SHARED_DATA:-../shared/data}
NNOPT=${NNOPT:-./nnopt}
echo "1..4"
if [ ! -f "$SHARED/ptb/ptb.train.txt.gz" ]; then
    for i in 1 2 3 4; do echo "ok $i # skip no shared data at $SHARED"; done
    exit 0
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/mirror" "$tmp/out/cifar10"
for s in train valid test; do gzip -dc "$SHARED/ptb/ptb.$s.txt.gz" >"$tmp/mirror/ptb.$s.txt"; done
for f in "$SHARED"/cifar10/*; do ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$tmp/out/cifar10/"; done

if NNOPT_PTB_URL="file://$tmp/mirror" scripts/fetch_data.sh "$tmp/out" >"$tmp/log1" 2>&1; then
    echo "ok 1 - fetch_data.sh installs PTB from a mirror"
else
    sed 's/^/# /' "$tmp/log1"; echo "not ok 1 - fetch_data.sh installs PTB from a mirror"
fi

same=1
for s in train valid test; do
    gzip -dc "$tmp/out/ptb/ptb.$s.txt.gz" | cmp -s - "$tmp/mirror/ptb.$s.txt" || same=0
done
[ $same = 1 ] && echo "ok 2 - the installed files decompress to the mirror's bytes" ||
    echo "not ok 2 - the installed files decompress to the mirror's bytes"

# a corrupted download is refused and nothing is installed in its place
rm "$tmp/out/ptb/ptb.valid.txt.gz"
printf 'x' >>"$tmp/mirror/ptb.valid.txt"
if NNOPT_PTB_URL="file://$tmp/mirror" scripts/fetch_data.sh "$tmp/out" >"$tmp/log2" 2>&1; then
    echo "not ok 3 - a corrupted download is refused (the script succeeded)"
elif grep -q "ptb.valid.txt.*does not match" "$tmp/log2" && [ ! -e "$tmp/out/ptb/ptb.valid.txt.gz" ]; then
    echo "ok 3 - a corrupted download is refused"; grep "error" "$tmp/log2" | head -2 | sed 's/^/# /'
else
    sed 's/^/# /' "$tmp/log2"; echo "not ok 3 - a corrupted download is refused"
fi

# the loader reads what the script installed (put the good valid split back first)
gzip -dc "$SHARED/ptb/ptb.valid.txt.gz" | gzip -9 -n >"$tmp/out/ptb/ptb.valid.txt.gz"
if "$NNOPT" train-lm --preset tiny --max-steps 2 --data "$tmp/out" --out "$tmp/run" >"$tmp/log3" 2>&1 &&
    grep -q "vocab 10000, tokens train 929589 valid 73760 test 82430" "$tmp/log3"; then
    echo "ok 4 - nnopt trains on the installed data"
else
    sed 's/^/# /' "$tmp/log3"; echo "not ok 4 - nnopt trains on the installed data"
fi
