#!/bin/sh
# cli_search.sh - `sop search` and `sop vector` from the command line (TAP):
# output format, ranking, options and errors.  Run by make check from the
# build folder; SOP overrides the binary.
SOP=${SOP:-./tools/sop}
dir=$(mktemp -d "${TMPDIR:-/tmp}/cli_search.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
db=$dir/db
n=0
fails=0
check() { # check NAME EXPECTED ACTUAL
    n=$((n + 1))
    if [ "$2" = "$3" ]; then
        echo "ok $n - $1"
    else
        echo "not ok $n - $1"
        printf '# expected: %s\n# got:      %s\n' "$2" "$3"
        fails=$((fails + 1))
    fi
}
echo "1..9"
tab=$(printf '\t')
$SOP create "$db" articles --kind search >/dev/null
$SOP put "$db" articles doc1 'The quick brown fox'
$SOP put "$db" articles doc2 'jumps over the lazy dog'
$SOP put "$db" articles doc3 'Fox, FOX, fox!'
out=$($SOP search "$db" articles fox | cut -f1 | tr '\n' ' ')
check "search ranks best first" "doc3 doc1 " "$out"
out=$($SOP search "$db" articles 'quick fox' --k 1 | cut -f1)
check "--k limits the answer" "doc1" "$out"
out=$($SOP search "$db" articles dog | sed "s/^doc2${tab}[0-9]*\.[0-9]\{6\}\$/shape-ok/")
check "doc<TAB>score with 6 decimals" "shape-ok" "$out"
out=$($SOP search "$db" articles zebra)
check "no match prints nothing" "" "$out"
out=$($SOP stores "$db")
check "the index is not listed" "articles" "$out"
$SOP create "$db" vec --kind vector >/dev/null
$SOP put "$db" vec east "$(printf '1 0\npayload')"
$SOP put "$db" vec north '[0, 1]'
$SOP put "$db" vec odd '1 2 3'
out=$($SOP vector "$db" vec --k 2 --metric l2 '2 0' 2>/dev/null | tr '\t\n' ': ')
check "vector: nearest by l2" "east:1.000000 north:2.236068 " "$out"
out=$($SOP vector "$db" vec --k 1 '0,5' 2>&1 >/dev/null)
check "vector: skipped items reported" "sop: vector: 1 item(s) skipped: another dimension than 2, or not a vector" "$out"
$SOP search "$db" vec fox >/dev/null 2>&1
check "search on a vector store fails" "1" "$?"
$SOP vector "$db" vec --k 1 'x y' >/dev/null 2>&1
check "a bad vector is a usage error" "2" "$?"
[ "$fails" -eq 0 ]
