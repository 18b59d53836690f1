#!/bin/sh
# packages.sh PKG...: install the Debian packages that are missing (as
# root), saying which first; without root, print the one apt-get command
# to run and fail.
missing=""
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "loom: installing missing Debian packages (as root, with apt-get):$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y $missing >/dev/null 2>&1 || {
    apt-get update >/dev/null 2>&1
    apt-get install -y $missing || exit 1
  }
  echo "loom: installed:$missing"
else
  echo "loom: these Debian packages are missing:$missing"
  echo "loom: installing them needs root; run:"
  echo "  sudo apt-get install -y$missing"
  exit 1
fi
