#!/bin/sh
# bigfile.sh - a 64 MiB file (64 chunks of the default 1 MiB) round trip,
# then a 1 GiB one with the daemon's peak RSS bounded:
# checksum after cp in, after a dd that rewrites a range straddling a chunk
# boundary without truncating, after growing and shrinking it with truncate,
# after mv to another store, and again after remount.
. "$(dirname "$0")/lib.sh"

command -v sha256sum >/dev/null || skip_all "no sha256sum"

sum() {
    t sha256sum <"$1" | cut -d' ' -f1
}

B=$T/big
head -c 67108864 /dev/urandom >"$B"
check "mount" mount_fs
t mkdir "$MNT/videos" "$MNT/archive"
check "cp of 64 MiB" t cp "$B" "$MNT/videos/matrix.mp4"
same "stat size is exact" 67108864 st %s "$MNT/videos/matrix.mp4"
same "checksum after cp" "$(sum "$B")" sum "$MNT/videos/matrix.mp4"

head -c 300000 /dev/urandom >"$T/patch"
dd if="$T/patch" of="$B" bs=1000 seek=1000 conv=notrunc 2>/dev/null
check "dd seek=N conv=notrunc across a chunk boundary" \
    t dd if="$T/patch" of="$MNT/videos/matrix.mp4" bs=1000 seek=1000 conv=notrunc
same "size unchanged by conv=notrunc" 67108864 st %s "$MNT/videos/matrix.mp4"
same "checksum after dd" "$(sum "$B")" sum "$MNT/videos/matrix.mp4"
same "a range read alone" "$(dd if="$B" bs=4096 skip=5000 count=3 2>/dev/null | sha256sum | cut -d' ' -f1)" \
    sh -c "dd if='$MNT/videos/matrix.mp4' bs=4096 skip=5000 count=3 2>/dev/null | sha256sum | cut -d' ' -f1"

truncate -s 70000001 "$B"
check "truncate grows" t truncate -s 70000001 "$MNT/videos/matrix.mp4"
same "checksum after growing" "$(sum "$B")" sum "$MNT/videos/matrix.mp4"
truncate -s 33554433 "$B"
check "truncate shrinks" t truncate -s 33554433 "$MNT/videos/matrix.mp4"
same "checksum after shrinking" "$(sum "$B")" sum "$MNT/videos/matrix.mp4"
check "mv to another store" t mv "$MNT/videos/matrix.mp4" "$MNT/archive/matrix.mp4"
check "append with >>" sh -c "printf tail >> '$MNT/archive/matrix.mp4'"
printf tail >>"$B"

verify() {
    w=$1
    same "$w: size" "$(stat -c %s "$B")" st %s "$MNT/archive/matrix.mp4"
    same "$w: checksum" "$(sum "$B")" sum "$MNT/archive/matrix.mp4"
    check "$w: the old name is gone" sh -c "! test -e '$MNT/videos/matrix.mp4'"
}
verify live
check "unmount and mount again" remount_fs
verify remounted
check "rm of the big file" t rm "$MNT/archive/matrix.mp4"

# A 1 GiB file streams: its checksum survives, and the daemon's resident
# memory stays bounded (a few chunks in flight, not the file).
G=$T/big1g.bin
if head -c 1073741824 /dev/urandom >"$G" 2>/dev/null; then
    check "cp of 1 GiB" t cp "$G" "$MNT/videos/big1g.bin"
    check "1 GiB read back identical" t cmp "$G" "$MNT/videos/big1g.bin"
    hwm=$(awk '/^VmHWM:/ {print int($2 / 1024)}' "/proc/$PID/status" 2>/dev/null)
    echo "# sopfs peak RSS after 1 GiB in and out: ${hwm:-?} MiB"
    if [ "${SOP_SANITIZED:-0}" = 1 ]; then
        skip "daemon peak RSS under 200 MiB" "ASan's allocator keeps freed memory in quarantine"
    else
        check "daemon peak RSS under 200 MiB (${hwm:-?} MiB)" test "${hwm:-999}" -lt 200
    fi
    check "rm of the 1 GiB file" t rm "$MNT/videos/big1g.bin"
    rm -f "$G"
else
    skip "1 GiB round trip" "no room for a 1 GiB source file in $T"
fi
check "clean unmount" umount_fs
finish
