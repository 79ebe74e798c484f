#!/bin/sh
# cli_progress.sh - the progress line of long commands (TAP): load, dump,
# compact, check and bench draw it on a terminal (run under `script -qec`,
# util-linux, for a pty), in place ("\r\033[K" then the line), and stay
# quiet when their output is redirected: stdout and stderr to files, or
# stdout alone to a file (scripted use), except dump, whose stdout is its
# data: it draws when that is a file, not when it is a pipe.  Run by make
# check from the build folder; SOP overrides the binary.
SOP=${SOP:-./tools/sop}
case $SOP in /*) ;; *) SOP=$(pwd)/$SOP ;; esac
if ! command -v script >/dev/null 2>&1; then
    echo "1..0 # SKIP no script(1) (util-linux)"
    exit 0
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/cli_progress.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
trap 'exit 1' INT TERM
db=$dir/db
n=0
fails=0
pass() { # pass NAME STATUS
    n=$((n + 1))
    if [ "$2" -eq 0 ]; then
        echo "ok $n - $1"
    else
        echo "not ok $n - $1"
        fails=$((fails + 1))
        [ -s "$dir/out" ] && sed 's/^/# /' "$dir/out" | tail -n 5
    fi
}
# tty NAME PATTERN CMD: CMD run on a pty; its terminal shows PATTERN
# (cat -v: "^M^[[K" is "\r\033[K") at the start of a redrawn line
tty() {
    script -qec "$3" /dev/null </dev/null 2>&1 | cat -v >"$dir/out"
    grep -q "\^M\^\[\[K$2" "$dir/out"
    pass "$1" $?
}
# quiet NAME FILE: FILE holds no progress line (no "\033[K" at all)
quiet() {
    cp "$2" "$dir/out"
    ! grep -q "$(printf '\033')\[K" "$2"
    pass "$1" $?
}

echo "1..14"
# a dump of 20,000 items, made by hand (key TAB base64 value)
v=$(head -c 200 /dev/zero | tr '\0' x | base64 -w0)
{
    printf '#sop-dump 1\n#store s\n#unique true\n#value_in_node true\n#count 20000\n'
    i=0
    awk -v v="$v" 'BEGIN { for (i = 0; i < 20000; i++) printf "key%06d\t%s\n", i, v }'
    printf '#end 20000\n'
} >"$dir/s.dump"

tty "load: progress on a terminal" "load s: [0-9,]* of 20,000 items" "'$SOP' load '$db' s < '$dir/s.dump'"
"$SOP" load "$db" s <"$dir/s.dump" >"$dir/o" 2>"$dir/e"
pass "load redirected: status 0" $?
quiet "  no progress on stderr" "$dir/e"
quiet "  nor on stdout" "$dir/o"
script -qec "'$SOP' load '$db' s < '$dir/s.dump' > '$dir/o2'" /dev/null </dev/null 2>&1 | cat -v >"$dir/tty"
quiet "load with stdout to a file, on a terminal: quiet" "$dir/tty"

tty "dump: progress on a terminal, the data in a file" "dump s: [0-9,]* of 20,000 items" \
    "'$SOP' dump '$db' s > '$dir/d.dump'"
grep -q '^#end 20000$' "$dir/d.dump"
pass "  and the dump whole" $?
script -qec "'$SOP' dump '$db' s | cat > /dev/null" /dev/null </dev/null 2>&1 | cat -v >"$dir/tty"
quiet "dump into a pipe: quiet (its reader may draw)" "$dir/tty"
"$SOP" dump "$db" s >"$dir/d2.dump" 2>"$dir/e"
quiet "dump redirected: no progress on stderr" "$dir/e"

tty "compact: progress on a terminal" "compact $db: [0-9.]* [KMG]*i*B of " "'$SOP' compact '$db'"
"$SOP" compact "$db" >"$dir/o" 2>"$dir/e"
quiet "compact redirected: quiet" "$dir/e"

tty "check: progress on a terminal" "check $db: [0-9,]* of [0-9,]* records" "'$SOP' check '$db'"
"$SOP" check "$db" >"$dir/o" 2>"$dir/e"
quiet "check redirected: quiet" "$dir/e"

mkdir "$dir/bench"
tty "bench: progress on a terminal" "bench sop: insert seq: [0-9,]* of 2,000 ops" \
    "'$SOP' bench engine --keys 2000 --commits 20 --only sop --dir '$dir/bench'"
[ "$fails" -eq 0 ]
