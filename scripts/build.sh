#!/bin/sh
# Configure and build in the source folder.  Extra arguments go to configure.
set -eu
cd "$(dirname "$0")/.."
[ -x configure ] || autoreconf -fi >/dev/null
if [ ! -f Makefile ] || [ "${SOP_RECONFIGURE:-0}" = 1 ]; then
    ./configure -q "$@"
fi
make -j"$(nproc)" >/dev/null
