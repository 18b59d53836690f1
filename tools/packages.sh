#!/bin/sh
# packages.sh PKG...: install the Debian packages that are missing (as root),
# or print the apt-get line to run.
missing=""
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y $missing >/dev/null 2>&1 || {
    apt-get update >/dev/null 2>&1
    apt-get install -y $missing || exit 1
  }
else
  echo "missing packages:$missing"
  echo "run: sudo apt-get install -y$missing"
  exit 1
fi
