#!/bin/sh
# Every test is registered once (tests/local.mk): each cmocka program
# (tests/test_*.c, tests/examples/ex_*.c) and each shell test (tests/*.sh,
# tests/fs/*.sh but the helpers lib.sh, man/*.sh, contrib/*.sh) is a word of
# exactly one of the test lists, every word of a list is a test on disk, and TESTS names none twice.
# Exit status 1 and a line on stderr for each violation.
#
# Usage: scripts/check-tests.sh SRCDIR "LISTS" "TESTS"
#   LISTS: the words of UNIT_TESTS, EXAMPLES, SCRIPT_TESTS and FS_TESTS
#   TESTS: the words of TESTS (make passes both, expanded)
set -u
src=$1
lists=$2
tests=$3
fail=0
bad() { echo "check-tests: $*" >&2; fail=1; }

# count WORD WORDS: how many times WORD is among WORDS
count() {
    w=$1
    shift
    c=0
    for x in $*; do [ "$x" = "$w" ] && c=$((c + 1)); done
    echo $c
}

for f in "$src"/tests/test_*.c "$src"/tests/examples/ex_*.c "$src"/tests/*.sh "$src"/tests/fs/*.sh \
    "$src"/man/*.sh "$src"/contrib/*.sh; do
    [ -f "$f" ] || continue
    rel=${f#"$src"/}
    case "$rel" in
    tests/fs/lib.sh) continue ;;
    *.c) name=${rel%.c} ;;
    *) name=$rel ;;
    esac
    c=$(count "$name" $lists)
    [ "$c" -eq 1 ] || bad "$name is in the test lists of tests/local.mk $c times (once, in one list)"
done
for w in $lists; do
    [ -f "$src/$w.c" ] || [ -f "$src/$w" ] || bad "$w is in a test list but neither $w.c nor $w exists"
done
for w in $(printf '%s\n' $tests | sort | uniq -d); do
    bad "$w is in TESTS more than once"
done
exit $fail
