#!/bin/sh
# Install the Debian 12 packages sop needs to build, test and benchmark
# (perl and python3 drive the mount tests; libssl-dev and openssl build
# pjdfstest from ../shared/suites; man-db and groff-base check the manual
# pages).
# Idempotent: installs only what is missing.  Run as root.
set -eu
PKGS="build-essential autoconf automake libtool pkg-config \
uuid-dev zlib1g-dev libcmocka-dev libfuse3-dev fuse3 libhiredis-dev \
liblmdb-dev libsqlite3-dev redis-server rsync attr perl python3 \
libssl-dev openssl man-db groff-base"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "install-deps: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing >/dev/null
fi
echo "install-deps: all packages present"
