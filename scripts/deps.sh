#!/bin/sh
# Makes sure the Debian packages nnopt needs are installed: installs them when run as root, otherwise prints the
# exact apt-get line and fails. Usage: scripts/deps.sh PACKAGE...
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing missing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null && exit 0
    echo "deps: apt-get failed; try by hand: apt-get install -y$missing" >&2
    exit 1
fi
echo "deps: nnopt needs these Debian packages:$missing" >&2
echo "deps: install them with:  sudo apt-get install -y$missing" >&2
exit 1
