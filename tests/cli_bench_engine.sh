#!/bin/sh
# cli_bench_engine.sh - a tiny `sop bench engine` (TAP): scale mode at 2000
# and 5000 keys with 50 single-upsert commits, on every engine the build has
# (LMDB and SQLite only when configure found them).  The bench checks every
# value it reads and every count, and exits 1 on a wrong answer; this checks
# that it ran to the end, printed each size's table with a number for every
# engine it ran, and removed its databases.  A few seconds; bounded by
# timeout(1).  Run by make check from the build folder; SOP overrides the
# binary.
SOP=${SOP:-./tools/sop}
CONFIG=${SOP_BUILDDIR:-.}/config.h
dir=$(mktemp -d "${TMPDIR:-/tmp}/cli_bench_engine.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
trap 'exit 1' INT TERM
n=0
check() { # check NAME COMMAND...
    n=$((n + 1))
    name=$1
    shift
    if "$@"; then
        echo "ok $n - $name"
    else
        echo "not ok $n - $name"
    fi
}

engines=sop
if [ -f "$CONFIG" ]; then
    grep -q '^#define HAVE_LMDB 1' "$CONFIG" && engines="$engines,lmdb"
    grep -q '^#define HAVE_SQLITE3 1' "$CONFIG" && engines="$engines,sqlite"
else
    engines=sop,lmdb,sqlite # the bench skips, and says so, what it was built without
fi
bound=""
command -v timeout >/dev/null && bound="timeout 300"

echo "1..10"
echo "# engines: $engines"
mkdir "$dir/bench"
$bound "$SOP" bench engine --sizes 2000,5000 --commits 50 --only "$engines" --dir "$dir/bench" \
    >"$dir/out" 2>"$dir/err"
rc=$?
sed 's/^/# /' "$dir/err"
check "the bench exits 0: every value read and every count right (exit $rc)" test "$rc" -eq 0
check "a table at 2000 keys" grep -q '^2000 keys, took' "$dir/out"
check "a table at 5000 keys" grep -q '^5000 keys, took' "$dir/out"
# every phase's rows (the table of each size, the cost table) have a number
# for every engine run: "n/a" there is an engine that failed
cols=""
case ",$engines," in *,sop,*) cols="$cols 2" ;; esac
case ",$engines," in *,lmdb,*) cols="$cols 3" ;; esac
case ",$engines," in *,sqlite,*) cols="$cols 4" ;; esac
phases_ok() {
    for p in 'insert seq' 'scan seq' 'insert random' 'read random' 'read random short' \
        'remove random' 'commit 1'; do
        rows=$(grep "^$p  *[0-9]" "$dir/out" | sed "s/^$p//" |
            awk -v cols="$cols" '
                BEGIN { nc = split(cols, c, " ") }
                $1 !~ /^[0-9]+$/ { next } # not a row of ops or keys (the disk ratios)
                { for (i = 1; i <= nc; i++) if ($(c[i]) !~ /^[0-9][0-9.]*$/) bad++; n++ }
                END { print (bad ? -1 : n + 0) }')
        if [ "$rows" -lt 2 ]; then
            echo "# phase '$p': fewer than 2 rows, or a row without a number of $engines"
            return 1
        fi
    done
}
check "every phase has a number for every engine ($engines) at both sizes" phases_ok
check "the bench removed its databases" test -z "$(ls -A "$dir/bench")"

# --nopin: sop's readers let go of what they read; the values still check
$bound "$SOP" bench engine --keys 3000 --commits 5 --only sop --nopin --dir "$dir/bench" \
    >"$dir/out2" 2>"$dir/err2"
rc=$?
sed 's/^/# /' "$dir/err2"
check "with --nopin the bench exits 0, every value right (exit $rc)" test "$rc" -eq 0
check "  and says its readers are SOP_TXN_NOPIN" grep -q 'readers SOP_TXN_NOPIN' "$dir/out2"

# sop bench cluster: tiny, 2 members, when the build has Redis support
if grep -q '^#define HAVE_HIREDIS 1' "$CONFIG" 2>/dev/null; then
    mkdir -p "$dir/cl"
    $bound "$SOP" bench cluster --commits 20 --members 2 --dir "$dir/cl" >"$dir/out3" 2>"$dir/err3"
    rc=$?
    sed 's/^/# /' "$dir/err3"
    check "sop bench cluster exits 0 (exit $rc)" test "$rc" -eq 0
    check "  a row per phase with a rate for standalone and each member count" sh -c \
        "grep -c '^commit 1 .*/s .*/s .*/s' '$dir/out3' | grep -qx 1 && grep -c '^create 4 KiB .*/s .*/s .*/s' '$dir/out3' | grep -qx 1 && grep -c '^shared 10% .*/s .*/s .*/s' '$dir/out3' | grep -qx 1"
    check "  and removed its databases" test -z "$(ls -A "$dir/cl")"
else
    for c in 1 2 3; do n=$((n + 1)); echo "ok $n - sop bench cluster # SKIP no Redis support in this build"; done
fi
