#!/bin/sh
# cli_inspect.sh - `sop stats DIR` and `sop du DIR` (TAP): the tables, valid
# JSON with raw numbers, dead bytes after overwrites, and the errors (not a
# database, nothing there); what `sop compact` prints and that compacting a
# compacted folder does not grow it.  The mount side (`sop stats MNT`, a folder a
# daemon holds) is in tests/fs/errors.sh.  Run by make check from the build
# folder; SOP overrides the binary.
SOP=${SOP:-./tools/sop}
dir=$(mktemp -d "${TMPDIR:-/tmp}/cli_inspect.XXXXXX") || exit 1
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
json() { # json FILE EXPR: EXPR (python, on the parsed object d) printed
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"
}
echo "1..26"
$SOP create "$db" users --unique --value-in-node >/dev/null
for i in 1 2 3 4 5; do $SOP put "$db" users "u$i" "value $i"; done
head -c 3000000 /dev/zero | $SOP put "$db" users big
$SOP create "$db" empty >/dev/null

out=$($SOP stats "$db" | awk '$1 == "stores" || $1 == "items" {printf "%s=%s ", $1, $2}')
check "stats: stores and items" "stores=2 items=6 " "$out"
out=$($SOP stats "$db" | awk '$1 == "disk_free" {print ($3 ~ /^(B|KiB|MiB|GiB|TiB)$/) ? "unit" : $0}')
check "stats: bytes with a unit" "unit" "$out"
out=$($SOP stats "$db" | awk '$1 == "users" {print $2}')
check "stats: the store table" "6" "$out"
$SOP stats --json "$db" >"$dir/s.json"
python3 -m json.tool "$dir/s.json" >/dev/null 2>&1
check "stats --json is valid JSON" "0" "$?"
check "  with raw numbers" "True" "$(json "$dir/s.json" 'd["source"] == "folder" and isinstance(d["stats"]["disk_free"], int) and d["stats"]["items"] == 6')"
check "  and the stores" "empty:0 users:6" "$(json "$dir/s.json" '" ".join("%s:%d" % (s["name"], s["items"]) for s in d["stores"])')"
id=$(sed -n 's/^sop database id //p' "$db/id")
check "stats: the database id, as DIR/id says" "$id" "$($SOP stats "$db" | awk '$1 == "database" && $2 == "id" {print $3}')"
check "  and in JSON" "True" "$(json "$dir/s.json" 'd["id"] == "'"$id"'" and len(d["id"]) == 36')"

$SOP du "$db" >"$dir/du.txt"
check "du: status 0" "0" "$?"
check "du: a line per store" "users 6" "$(awk '$1 == "users" {print $1, $2}' "$dir/du.txt")"
check "du: the totals" "yes" "$(grep -q '^sop compact would free' "$dir/du.txt" && grep -q '^the cleaner would free' "$dir/du.txt" && echo yes)"
$SOP du --json "$db" >"$dir/d1.json"
python3 -m json.tool "$dir/d1.json" >/dev/null 2>&1
check "du --json is valid JSON" "0" "$?"
check "  live <= size in every segment" "True" "$(json "$dir/d1.json" 'all(s["live"] <= s["size"] and s["dead"] == s["size"] - s["live"] for s in d["segments"])')"
check "  a value segment holds the big value" "True" "$(json "$dir/d1.json" 'any(s["kind"] == "value" and s["live"] > 2000000 for s in d["segments"])')"
check "  the totals add up" "True" "$(json "$dir/d1.json" 'd["total"]["log_bytes"] == sum(s["size"] for s in d["segments"] if s["kind"] == "log") and d["total"]["store_bytes"] == sum(s["bytes"] for s in d["stores"])')"
for r in 1 2 3 4 5 6; do for i in 1 2 3 4 5; do $SOP put "$db" users "u$i" "value $i round $r"; done; done
$SOP du --json "$db" >"$dir/d2.json"
check "du: overwrites add dead bytes" "True" "$(python3 -c 'import json, sys; a, b = (json.load(open(f))["total"] for f in sys.argv[1:]); print(b["log_dead"] > a["log_dead"] and b["compact_would_free"] > a["compact_would_free"])' "$dir/d1.json" "$dir/d2.json")"
size() { find "$1" -maxdepth 1 -type f -printf '%s\n' | awk '{ t += $1 } END { print t + 0 }'; }
before=$(size "$db")
out=$($SOP compact "$db")
after=$(size "$db")
check "compact: sizes in words and bytes, as the folder has them" "yes" "$(printf '%s' "$out" | grep -Eq "^compact $db: [0-9.]+ [KMG]?i?B -> [0-9.]+ [KMG]?i?B \\($before -> $after bytes\\); segments [0-9.]+ [KMG]?i?B -> [0-9.]+ [KMG]?i?B, checkpoints and other files [0-9.]+ [KMG]?i?B -> [0-9.]+ [KMG]?i?B\$" && echo yes || echo "$out")"
check "  the overwritten values are gone" "True" "$(python3 -c "print($after < $before)")"
$SOP du --json "$db" >"$dir/d3.json"
check "du: after sop compact, compaction would free nothing" "0" "$(json "$dir/d3.json" 'd["total"]["compact_would_free"]')"
$SOP compact "$db" >/dev/null
check "compact: a compacted folder does not grow" "True" "$(python3 -c "print($(size "$db") <= $after)")"

# a freshly loaded folder has one checkpoint; compaction leaves two (the new
# one and checkpoint.prev), and what du predicts counts that second one
python3 -c '
import base64
print("#sop-dump 1")
for i in range(20000): print("k%06d\t%s" % (i, base64.b64encode(b"x" * 300).decode()))
print("#end 20000")' | $SOP load "$dir/db3" blobs >/dev/null
check "du: a folder with one checkpoint" "no" "$([ -e "$dir/db3/checkpoint.prev" ] && echo yes || echo no)"
$SOP du --json "$dir/db3" >"$dir/d4.json"
before=$(size "$dir/db3")
$SOP compact "$dir/db3" >/dev/null
after=$(size "$dir/db3")
check "  compact would free what compaction then frees (64 KiB apart at most)" "True" \
    "$(python3 -c "import json; p = json.load(open('$dir/d4.json'))['total']['compact_would_free']; a = max(0, $before - $after); print(abs(p - a) <= 65536 or (p, a))")"

# a search store's hidden companion has a longer name than any listed store
$SOP create "$dir/db2" docs --kind search >/dev/null
$SOP put "$dir/db2" docs d1 "hello world"
check "du: the store table's rows line up, hidden companions included" "1" \
    "$($SOP du "$dir/db2" | awk '/^store /{on=1} on && /^$/{on=0} on{print length($0)}' | sort -u | wc -l | tr -d ' ')"

mkdir "$dir/plain"
out=$($SOP stats "$dir/plain" 2>&1 >/dev/null)
check "stats: a folder that is no database, in words" "sop: stats $dir/plain: neither a sop data folder (no SOP file) nor the root of a sopfs mount (no .sop-stats)" "$out"
out=$($SOP du "$dir/nowhere" 2>&1 >/dev/null)
check "du: nothing there, in words" "sop: du $dir/nowhere: No such file or directory (no database there)" "$out"
check "  and nothing made" "no" "$([ -e "$dir/nowhere" ] && echo yes || echo no)"
[ "$fails" -eq 0 ]
