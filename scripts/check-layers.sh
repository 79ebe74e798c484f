#!/bin/sh
# Layering rules (STYLE.md): the engine includes no FUSE header; only os.c
# makes data system calls, and only os.c allocates (malloc, calloc, realloc,
# strdup, free: the others use os_malloc and its kin, os.h); fs/ includes
# sop.h and FUSE only; tools/ use sop.h; only the Redis modules include
# hiredis; the modules of engine/ and of fs/ do not include each other in a
# cycle.  Exit status 1 and a line on stderr for each violation.
#
# Usage: scripts/check-layers.sh [SRCDIR]
set -u
src=${1:-.}
# Folders whose modules must form no cycle of includes.
cycle_free=${CHECK_LAYERS_CYCLE_FREE:-engine fs}
fail=0
bad() { echo "check-layers: $*" >&2; fail=1; }

# code FILE: FILE's C code with comments, string and character literals
# blanked out (newlines kept, so grep -n gives the file's line numbers): a
# call named in a comment or a message is not a call.
code() {
    awk '
        BEGIN { st = 0 } # 0 code, 1 block comment, 2 string, 3 character
        {
            line = $0; out = ""; n = length(line)
            for (i = 1; i <= n; i++) {
                c = substr(line, i, 1); d = substr(line, i, 2)
                if (st == 1) {
                    if (d == "*/") { st = 0; i++; out = out "  " } else out = out " "
                } else if (st == 2 || st == 3) {
                    if (c == "\\") { i++; out = out "  " }
                    else if ((st == 2 && c == "\"") || (st == 3 && c == "\047")) { st = 0; out = out c }
                    else out = out " "
                } else if (d == "/*") { st = 1; i++; out = out "  " }
                else if (d == "//") break
                else if (c == "\"") { st = 2; out = out c }
                else if (c == "\047") { st = 3; out = out c }
                else out = out c
            }
            if (st == 2 || st == 3) st = 0 # an unterminated literal ends with its line
            print out
        }
    ' "$1"
}

# calls_in FILE NAMES: the lines of FILE whose code calls one of NAMES (an
# ERE alternation) directly, as "N: line": not through a table (os->pread,
# m.free) nor a function whose name merely ends so (os_malloc, bt_free).
calls_in() {
    code "$1" | grep -nE "(^|[^>._a-zA-Z0-9])$2[[:space:]]*\(" | cut -d: -f1 |
        while read -r n; do printf '%s: %s\n' "$n" "$(sed -n "${n}p" "$1")"; done
}

# include_cycles DIR: the modules of DIR must not depend on each other in a
# cycle.  X.c and X.h are module X; X depends on Y when X.c or X.h includes
# "Y.h", a header of DIR.  A dependence through other headers is a path of
# such edges, so any cycle is a cycle of edges; tsort finds them, and each
# is said with the includes that make it.
include_cycles() {
    dir=$1
    tmp=$(mktemp) || {
        bad "$dir: no temporary file"
        return
    }
    for f in "$dir"/*.c "$dir"/*.h; do
        [ -f "$f" ] || continue
        b=${f##*/}
        m=${b%.*}
        sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"/]*\)\.h".*/\1/p' "$f" |
            while read -r h; do
                if [ "$h" != "$m" ] && [ -f "$dir/$h.h" ]; then echo "$m $h $b"; fi
            done
    done | sort -u >"$tmp"
    loops=$(awk '{ print $1, $2 }' "$tmp" | sort -u | tsort 2>&1 >/dev/null)
    if [ -n "$loops" ]; then
        printf '%s\n' "$loops" | awk -v dir="${dir#"$src"/}" '
            FNR == NR { if (!(($1 " " $2) in by)) by[$1 " " $2] = $3; next }
            function say(   i, to, path, how, ok) {
                if (n == 0) return
                path = m[1]; how = ""; ok = 1
                for (i = 1; i <= n; i++) {
                    to = m[i % n + 1]
                    if (!((m[i] " " to) in by)) ok = 0
                    path = path " -> " to
                    how = how (i > 1 ? ", " : "") by[m[i] " " to] " includes " to ".h"
                }
                if (ok)
                    print "check-layers: " dir "/: modules include each other in a cycle: " path " (" how ")"
                else {
                    path = m[1]
                    for (i = 2; i <= n; i++) path = path ", " m[i]
                    print "check-layers: " dir "/: modules include each other in a cycle: " path
                }
                n = 0
            }
            /input contains a loop/ { say(); next }
            /^tsort: / { sub(/^tsort: /, ""); m[++n] = $0; next }
            { print "check-layers: " dir "/: tsort: " $0 }
            END { say() }
        ' "$tmp" - >&2
        fail=1
    fi
    rm -f "$tmp"
}
calls='(open|pread|pwrite|fsync|fdatasync|rename|unlink|mkdir|opendir|flock|ftruncate)'
allocs='(malloc|calloc|realloc|strdup|strndup|free)'
for f in "$src"/engine/*.c; do
    case "$f" in */os.c) continue ;; esac
    hits=$(calls_in "$f" "$calls")
    if [ -n "$hits" ]; then
        bad "$f calls a data system call directly (only os.c may):"
        echo "$hits" >&2
    fi
    hits=$(calls_in "$f" "$allocs")
    if [ -n "$hits" ]; then
        bad "$f allocates directly (only os.c may; use os_malloc, os_calloc, os_realloc, os_strdup, os_free):"
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
for f in "$src"/engine/*.[ch] "$src"/fs/*.[ch] "$src"/src/*.c "$src"/tools/*.[ch] "$src"/tests/*.c "$src"/tests/lib/*.[ch]; do
    [ -f "$f" ] || continue
    case "$f" in */engine/coord_redis.c) continue ;; esac
    if grep -q '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]\(hiredis/\)\{0,1\}hiredis' "$f"; then
        bad "$f includes hiredis: only engine/coord_redis.c may (the coordination seam, coord.h)"
    fi
done
for d in $cycle_free; do
    include_cycles "$src/$d"
done
exit $fail
