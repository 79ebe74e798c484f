#!/bin/sh
# Layering rules (STYLE.md): the engine includes no FUSE header; only os.c
# makes data system calls; fs/ includes sop.h and FUSE only; tools/ use sop.h.
set -u
src=${1:-.}
fail=0
bad() { echo "check-layers: $*" >&2; fail=1; }
grep -l '#include *<fuse' "$src"/engine/*.c "$src"/engine/*.h 2>/dev/null | while read -r f; do bad "$f includes a FUSE header"; done
for f in "$src"/engine/*.c; do
    case "$f" in */os.c) continue ;; esac
    if grep -nE '\b(open|pread|pwrite|fsync|fdatasync|rename|unlink|mkdir|opendir|flock|ftruncate)\s*\(' "$f" | grep -vE '(->|\.)(open|pread|pwrite|fsync|rename|unlink|mkdir|flock|ftruncate)\s*\(|os_p(read|write)_full|blob_open|k_|/\*|^\s*\*' >/dev/null; then
        bad "$f calls a data system call directly (only os.c may)"
        grep -nE '\b(open|pread|pwrite|fsync|fdatasync|rename|unlink|mkdir|opendir|flock|ftruncate)\s*\(' "$f" | grep -vE '(->|\.)(open|pread|pwrite|fsync|rename|unlink|mkdir|flock|ftruncate)\s*\(|os_p(read|write)_full|blob_open|k_' >&2
    fi
done
for f in "$src"/fs/*.c "$src"/fs/*.h "$src"/tools/*.c "$src"/tools/*.h; do
    [ -f "$f" ] || continue
    grep -n '#include *"' "$f" | grep -vE '"(sop\.h|config\.h|fs[a-z_]*\.h|bench[a-z_]*\.h|tool[a-z_]*\.h)"' | while read -r l; do bad "$f: $l (only sop.h and its own headers)"; done
done
if grep -l 'hiredis' "$src"/engine/*.c 2>/dev/null | grep -v redis >/dev/null; then bad "only the Redis modules include hiredis"; fi
exit $fail
