#!/bin/sh
# Layering rules (STYLE.md): the engine includes no FUSE header; only os.c
# makes data system calls; fs/ includes sop.h and FUSE only; tools/ use sop.h.
set -u
src=${1:-.}
fail=0
bad() { echo "check-layers: $*" >&2; fail=1; }
calls='(open|pread|pwrite|fsync|fdatasync|rename|unlink|mkdir|opendir|flock|ftruncate)'
for f in "$src"/engine/*.c; do
    case "$f" in */os.c) continue ;; esac
    # code lines only (no comment lines), calls not through the os_ops table
    hits=$(grep -nE "(^|[^>._a-zA-Z0-9])$calls *\(" "$f" | grep -vE '^[0-9]+: *(/\*|\*)')
    if [ -n "$hits" ]; then
        bad "$f calls a data system call directly (only os.c may):"
        echo "$hits" >&2
    fi
done
for f in "$src"/fs/*.c "$src"/fs/*.h "$src"/src/*.c "$src"/tools/*.c "$src"/tools/*.h; do
    [ -f "$f" ] || continue
    d=$(dirname "$f")
    for h in $(sed -n 's/^#include *"\([^"]*\)".*/\1/p' "$f"); do
        case "$h" in sop.h | config.h) continue ;; esac
        [ -f "$d/$h" ] && [ ! -f "$src/engine/$h" ] && continue
        bad "$f includes \"$h\": outside the engine only sop.h (and the folder's own headers)"
    done
done
for f in "$src"/engine/*.c "$src"/engine/*.h; do
    if grep -q '#include *<fuse' "$f"; then bad "$f includes a FUSE header"; fi
done
if grep -l 'hiredis' "$src"/engine/*.c 2>/dev/null | grep -v redis >/dev/null; then bad "only the Redis modules include hiredis"; fi
exit $fail
