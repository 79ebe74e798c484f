#!/bin/sh
# enospc.sh - a full disk, recovered online.  The data folder is on a
# 200 MiB tmpfs of the test's own: big files fill it until a write fails
# with ENOSPC, and the close of that file fails too (writers.c: the
# transaction is discarded and the file keeps its content); the space of
# the failed write comes back; every rm on the full disk works and gives its
# space back at once, so writes succeed again without a remount; small files
# fill it again, and removing and truncating them still works; `sop
# compact` runs on the full disk; everything committed survives a remount.
. "$(dirname "$0")/lib.sh"

W=$SOP_BUILDDIR/tests/fs/writers
SOP=$SOP_BUILDDIR/tools/sop
[ -x "$W" ] && [ -x "$SOP" ] || skip_all "no $W or $SOP"
[ "$(id -u)" = 0 ] || skip_all "must run as root (it mounts a tmpfs)"
DISK=$T/disk
mkdir -p "$DISK"
mount -t tmpfs -o size=200m sopfs-enospc "$DISK" 2>/dev/null || skip_all "cannot mount a tmpfs here"
# lib.sh's cleanup unmounts sopfs and removes $T; the tmpfs goes first
trap 'umount_fs >/dev/null 2>&1; umount "$DISK" 2>/dev/null; cleanup' EXIT
DATA=$DISK/data

used() { df -k --output=used "$DISK" | tail -n 1 | tr -d ' '; }
vals() { ls "$DATA" | grep -c '\.val$'; }

check "mount with the data folder on a 200 MiB tmpfs" mount_fs
t mkdir "$MNT/s"
head -c 20000000 /dev/urandom >"$T/r20"

# big files until the disk is full
k=0
while [ $k -lt 20 ] && t cp "$T/r20" "$MNT/s/f$k" 2>"$T/cperr"; do
    k=$((k + 1))
done
check "cp fills the disk and fails with ENOSPC after some files" \
    sh -c "[ $k -ge 5 ] && [ $k -lt 20 ] && grep -q 'No space left on device' '$T/cperr'"
check "  and its close fails too" grep -q "failed to close" "$T/cperr"
same "  the failed file is as its create left it: empty" 0 st %s "$MNT/s/f$k"
same "  and the space of its chunks came back (one value segment per whole file)" "$k" vals
check "every committed file is whole" sh -c "for j in \$(seq 0 $((k - 1))); do cmp '$T/r20' '$MNT/s/f'\$j || exit 1; done"
same "df on the mount shows no space for writers (the reserve is not free)" 0 \
    sh -c "[ \$(df -k --output=avail '$MNT' | tail -n 1) -lt 16384 ] && echo 0"

# a writer that holds its file: write(2) fails, close(2) returns the error,
# the file keeps its content
t sh -c "echo keep > '$MNT/s/small'"
same "write until ENOSPC, then close: both fail, the old content stays" ok t "$W" enospc "$MNT/s/small"

before=$(used)
check "rm of a big file on the full disk" t rm "$MNT/s/f0"
check "  gives its space back at once (the flusher syncs the log right away)" \
    wait_until 5 sh -c "[ \$(df -k --output=used '$DISK' | tail -n 1) -lt $((before - 15000)) ]"
check "a new big file fits again, without a remount" t cp "$T/r20" "$MNT/s/again"
check "  and reads back" t cmp "$T/r20" "$MNT/s/again"

# small files fill what is left
k2=0
while [ $k2 -lt 40000 ] && t sh -c "head -c 4096 '$T/r20' > '$MNT/s/small$k2'" 2>/dev/null; do
    k2=$((k2 + 1))
done
check "small files fill the disk up to the reserve (ENOSPC after $k2)" test $k2 -lt 40000
check "a truncate on the full disk works" t truncate -s 100 "$MNT/s/f1"
same "  to 100 bytes" 100 st %s "$MNT/s/f1"
check "rm of every small file works on the full disk" \
    t sh -c "for j in \$(seq 0 $((k2 - 1))); do rm '$MNT/s/small'\$j || exit 1; done"
check "mkdir and rmdir too" t sh -c "mkdir '$MNT/s/d' && rmdir '$MNT/s/d'"
check "unmount" umount_fs
before=$(used)
check "sop compact on the full disk" t "$SOP" compact "$DATA"
check "  gives the small files' space back" test "$(used)" -lt $((before - 4000))
check "mount again" mount_fs
check "the big files are whole" sh -c "for j in 2 3; do cmp '$T/r20' '$MNT/s/f'\$j || exit 1; done"
same "the truncated one" 100 st %s "$MNT/s/f1"
check "the new one" t cmp "$T/r20" "$MNT/s/again"
check "a big file can be written again" t cp "$T/r20" "$MNT/s/after"
same "the small file kept its content" keep t cat "$MNT/s/small"
check "unmount" umount_fs
finish
