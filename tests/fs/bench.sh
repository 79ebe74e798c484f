#!/bin/sh
# bench.sh - `sop bench fs` at a tiny size: it runs both sides, prints every
# phase with a ratio, leaves no mount and no temporary folder behind, and
# refuses bad options.  (The figures themselves are BENCHMARKS.md's.)
. "$(dirname "$0")/lib.sh"

SOP=$SOP_BUILDDIR/tools/sop
mkdir -p "$T/b"
check "a small run ends well" t "$SOP" bench fs --sopfs "$SOPFS" --dir "$T/b" \
    --size-mib 4 --files 100 --tree 40 --runs 2
t "$SOP" bench fs --sopfs "$SOPFS" --dir "$T/b" --size-mib 2 --files 20 --tree 10 \
    --runs 1 --single-thread >"$T/table" 2>&1
same "every phase has a line with a ratio (-s too)" 7 sh -c \
    "grep -cE '^(seq write|seq read|create|stat|read|delete|cp -r) +[0-9.]+ +[0-9.]+ +[0-9.]+ ' '$T/table'"
same "the table says how many runs" 1 sh -c "grep -c 'medians of 1 runs' '$T/table'"
same "nothing left behind" "" sh -c "ls '$T/b'; grep ' $T/b' /proc/mounts"
same "--runs 0 is refused" 2 sh -c "'$SOP' bench fs --runs 0 >/dev/null 2>&1; echo \$?"
same "--runs 10 is refused" 2 sh -c "'$SOP' bench fs --runs 10 >/dev/null 2>&1; echo \$?"
finish
