#!/bin/sh
# man/check.sh - the manual pages render without warnings and document what
# the programs offer: every command `sop help` lists is an `.It Cm` entry of
# sop.1 and every long option `sop help COMMAND` shows is in it, every
# option `sopfs --help` prints (long and -o) is in sopfs.8, and
# every page in man/ is the list man/local.mk installs.  TAP.
set -u
if [ -z "${SOP_MAN_TIMED:-}" ]; then
    SOP_MAN_TIMED=1 exec timeout -k 5 120 sh "$0" "$@"
fi
: "${SOP_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${SOP_SRCDIR:=$SOP_BUILDDIR}"
M=$SOP_SRCDIR/man
SOP=$SOP_BUILDDIR/tools/sop
SOPFS=$SOP_BUILDDIR/src/sopfs
T=$(mktemp -d "${TMPDIR:-/tmp}/sop-man.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { # description, then a command whose success is the check
    d=$1; shift
    if "$@"; then ok "$d"; else nok "$d"; fi
}

command -v man >/dev/null || { echo "1..0 # SKIP no man(1) (install man-db)"; exit 0; }

for p in sop.1 libsop.3 sopfs.8; do
    LC_ALL=C.UTF-8 man --warnings -E UTF-8 -l "$M/$p" >/dev/null 2>"$T/warn"
    if [ -s "$T/warn" ]; then nok "$p renders without warnings"; sed 's/^/# /' "$T/warn"; \
    else ok "$p renders without warnings"; fi
    if command -v mandoc >/dev/null; then
        check "$p passes mandoc -T lint" mandoc -T lint -W warning "$M/$p"
    fi
done

# sop.1: each command of `sop help` has an entry ".It Cm NAME".
"$SOP" help >"$T/help" || nok "sop help runs"
sed -n '/^Commands:/,/^$/p' "$T/help" | awk 'NR > 1 && NF { print $1 }' >"$T/cmds"
[ -s "$T/cmds" ] || nok "sop help lists commands"
while read -r c; do
    check "sop.1 documents command $c" grep -q "^\.It Cm $c\( \|$\)" "$M/sop.1"
done <"$T/cmds"
# and each long option `sop help COMMAND` shows is in it as "Fl -NAME"
while read -r c; do
    "$SOP" help "$c" 2>&1 | grep -o -- '--[a-z][a-z-]*' | sort -u >"$T/o-$c"
    while read -r o; do
        check "sop.1 documents $c $o" grep -q -- "Fl -${o#--}\>" "$M/sop.1"
    done <"$T/o-$c"
done <"$T/cmds"

# sopfs.8: each long option and each -o option of `sopfs --help`.
if [ -x "$SOPFS" ]; then
    "$SOPFS" --help >"$T/fshelp" 2>&1
    grep -o -- '--[a-z][a-z-]*' "$T/fshelp" | sort -u >"$T/long"
    while read -r o; do
        check "sopfs.8 documents $o" grep -q "^\.It .*Fl -${o#--}\( \|$\)" "$M/sopfs.8"
    done <"$T/long"
    sed -n 's/^ *-o \([a-z_]*\).*/\1/p' "$T/fshelp" | sort -u >"$T/oopts"
    [ -s "$T/oopts" ] || nok "sopfs --help lists -o options"
    while read -r o; do
        check "sopfs.8 documents -o $o" grep -q "^\.It Cm $o\( \|$\)" "$M/sopfs.8"
    done <"$T/oopts"
else
    echo "# no $SOPFS: sopfs options not checked"
fi

# The installed list (man/local.mk) is every page in man/.
ls "$M" | grep '\.[0-9]$' | sort >"$T/pages"
sed -n 's/^dist_man_MANS *= *//p' "$M/local.mk" | tr ' ' '\n' | sed -n 's|^man/||p' | sort \
    >"$T/installed"
check "man/local.mk installs every page in man/" cmp -s "$T/pages" "$T/installed"

echo "1..$n"
