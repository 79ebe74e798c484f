#!/bin/sh
# contrib/completion.sh - the bash completion of sop and sopfs: a command
# prefix, a store name from a real database made with tools/sop, an option
# of a command, a DIR argument, a sopfs -o option.  TAP.
set -u
if [ -z "${SOP_COMPL_TIMED:-}" ]; then
    SOP_COMPL_TIMED=1 exec timeout -k 5 60 sh "$0" "$@"
fi
: "${SOP_BUILDDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${SOP_SRCDIR:=$SOP_BUILDDIR}"
command -v bash >/dev/null || { echo "1..0 # SKIP no bash"; exit 0; }
T=$(mktemp -d "${TMPDIR:-/tmp}/sop-compl.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
PATH=$SOP_BUILDDIR/tools:$PATH
export PATH
sop create "$T/db" users >/dev/null && sop create "$T/db" videos >/dev/null || {
    echo "1..0 # SKIP sop create failed"; exit 0; }
mkdir "$T/dbdir2"
n=0
# words..., then the expected COMPREPLY (sorted, space-separated) after "::"
case_() {
    desc=$1; shift
    got=$(cd "$T" && bash -c '
        . "$1"/contrib/sop.bash-completion; shift
        prog=$1; want=; words=()
        for w in "$@"; do [ "$w" = "::" ] && break; words+=("$w"); done
        COMP_WORDS=("${words[@]}"); COMP_CWORD=$((${#words[@]} - 1))
        _$prog
        printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' x "$SOP_SRCDIR" "$@")
    want=$(for w in "$@"; do [ -n "${seen:-}" ] && echo "$w"; [ "$w" = "::" ] && seen=1; done | sort | tr '\n' ' ')
    unset seen
    n=$((n + 1))
    if [ "$got" = "$want" ]; then echo "ok $n - $desc"; else
        echo "not ok $n - $desc"; echo "# got '$got', want '$want'"; fi
}
case_ "command prefix" sop d :: demo drop du dump
case_ "store name from sop stores" sop get db v :: videos
case_ "every store" sop ls db "" :: users videos
case_ "option of a command" sop create db users --u :: --unique
case_ "DIR as a directory" sop stores dbd :: dbdir2
case_ "help completes commands" sop help lo :: load
case_ "sopfs -o option" sopfs -o non :: nonempty
case_ "sopfs long option" sopfs --v :: --version
echo "1..$n"
