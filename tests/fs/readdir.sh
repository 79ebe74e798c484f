#!/bin/sh
# readdir.sh - directory listings: in key order, stable under concurrent
# changes (no entry twice, no unchanged entry skipped), and a store of a
# million records (loaded with `sop load` before the mount) listed, found
# and read with the daemon's memory bounded; checked again after remount.
. "$(dirname "$0")/lib.sh"

SOP=$SOP_BUILDDIR/tools/sop
[ -x "$SOP" ] || skip_all "no $SOP"
N=${SOPFS_TEST_RECORDS:-1000000}
STABLE=2000

rss_kib() { # the daemon's peak resident memory, KiB
    awk '/^VmHWM:/ { print $2 }' "/proc/$PID/status"
}

# --- a million records, loaded offline (before the mount: one process only)
mkdir -p "$DATA"
# (values in the leaves, as sopfs stores make them; a store of external
# values costs the registry an entry per value)
check "load $N records with sop load" sh -c \
    "{ printf '#sop-dump 1\\n#unique true\\n#value_in_node true\\n'; seq -f 'r%07.0f' 1 $N | awk '{ print \$0 \"\\tYQ==\" }'; echo '#end $N'; } | '$SOP' load '$DATA' big"
check "mount" mount_fs

for pass in 1 2; do
    same "all $N records listed ($pass)" "$N" sh -c "timeout 120 ls -f '$MNT/big' | grep -c '^r'"
    check "listed in key order ($pass)" sh -c "timeout 120 ls -f '$MNT/big' | grep '^r' | LC_ALL=C sort -c"
    same "first and last ($pass)" "r0000001 r$(printf %07d "$N")" sh -c \
        "timeout 120 ls '$MNT/big' | sed -n '1p;\$p' | tr '\\n' ' ' | sed 's/ \$//'"
    same "find counts them ($pass)" "$N" sh -c "timeout 120 find '$MNT/big' -type f | wc -l"
    same "a record reads back ($pass)" a t cat "$MNT/big/r0500000"
    same "stat size ($pass)" 1 st %s "$MNT/big/r$(printf %07d "$N")"
    if [ "${SOP_SANITIZED:-0}" = 1 ]; then
        skip "daemon peak RSS under 200 MiB ($pass)" "AddressSanitizer keeps freed memory"
    else
        kib=$(rss_kib)
        echo "# daemon peak RSS: $kib KiB"
        check "daemon peak RSS under 200 MiB ($pass)" test "$kib" -lt 204800
    fi
    [ $pass = 1 ] && check "remount" remount_fs
done

# --- listings while other entries come and go between the listed ones
t mkdir "$MNT/st"
check "$STABLE stable files" sh -c "cd '$MNT/st' && seq -f 's%04.0f' 0 $((STABLE - 1)) | timeout 120 xargs touch"
(
    j=0
    while [ ! -e "$T/stop" ]; do
        # a name right after a stable one, spread over the whole directory
        c=$MNT/st/s$(printf %04d $((j * 37 % STABLE))).t$j
        : >"$c" 2>/dev/null
        [ $j -ge 20 ] && rm -f "$MNT/st/s$(printf %04d $(((j - 20) * 37 % STABLE))).t$((j - 20))"
        [ $((j % 7)) = 0 ] && mv "$c" "$c.m" 2>/dev/null
        j=$((j + 1))
        echo "$j" >"$T/churned.new" && mv "$T/churned.new" "$T/churned"
    done
) &
CHURN=$!
check "the churn runs" wait_until 20 sh -c "ls '$MNT/st' | grep -q '\\.t'"
# list again and again until 300 entries came and went meanwhile; every
# listing is checked, the failures are counted
lists=0 missing=0 twice=0 unordered=0 bad=0
while [ "$(cat "$T/churned" 2>/dev/null || echo 0)" -lt 300 ] && [ $lists -lt 2000 ]; do
    lists=$((lists + 1))
    t ls -f "$MNT/st" >"$T/list" || bad=$((bad + 1))
    [ "$(grep -v '\.t' "$T/list" | grep -c '^s')" = "$STABLE" ] || missing=$((missing + 1))
    [ -z "$(sort "$T/list" | uniq -d)" ] || twice=$((twice + 1))
    grep -v '^\.' "$T/list" | LC_ALL=C sort -c 2>/dev/null || unordered=$((unordered + 1))
done
: >"$T/stop"
wait $CHURN
echo "# $lists listings while $(cat "$T/churned") entries were created"
check "the churn went on through the listings" test "$(cat "$T/churned")" -ge 300
same "listings missing a stable entry" 0 echo $missing
same "listings with an entry twice" 0 echo $twice
same "listings out of key order" 0 echo $unordered
same "listings that failed" 0 echo $bad
same "after the churn the listing is what exists" "" sh -c \
    "cd '$MNT/st' && ls -f | grep -v '^\\.\\.\\?\$' | sort >'$T/after' && for f in \$(cat '$T/after'); do [ -e \"\$f\" ] || echo \"\$f\"; done"
same "and every file is listed" "$(($(wc -l <"$T/after")))" sh -c "find '$MNT/st' -type f | wc -l"
check "remount" remount_fs
same "the stable entries after remount" "$STABLE" sh -c "timeout 120 ls -f '$MNT/st' | grep -v '\\.t' | grep -c '^s'"

finish
