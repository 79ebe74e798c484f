#!/bin/sh
# reclaim.sh - the cleaner on a mount, the media pipeline's case: big files
# rewritten in part leave the value segments of their first write mostly
# dead but never empty, which only the cleaner (engine/reclaim.c) gives
# back.  Six files of 16 MiB (96 MiB live), then their first 12 MiB
# rewritten twice in place, one 1 MiB chunk a commit: without the cleaner
# the data folder would hold about 168 MiB; with it, it comes back near the
# live data while the mount runs, and every byte is what was written,
# before and after a remount.  About 300 MiB written, all removed at the end.
. "$(dirname "$0")/lib.sh"

du_mib() { du -sm "$DATA" | cut -f1; }
stat_of() { sed -n "s/^$1: //p" "$MNT/.sop-stats"; }

check "mount" mount_fs
t mkdir "$MNT/s"
head -c 16777216 /dev/urandom >"$T/base"
head -c 1048576 /dev/urandom >"$T/patch"
for i in 0 1 2 3 4 5; do
    cp "$T/base" "$T/model$i"
    t cp "$T/base" "$MNT/s/f$i" || break
done
check "six files of 16 MiB" sh -c "[ \$(ls '$MNT/s' | wc -l) -eq 6 ]"
ok=0
for pass in 1 2; do
    for i in 0 1 2 3 4 5; do
        k=0
        while [ $k -lt 12 ]; do
            dd if="$T/patch" of="$T/model$i" bs=1048576 seek=$k count=1 conv=notrunc 2>/dev/null
            t dd if="$T/patch" of="$MNT/s/f$i" bs=1048576 seek=$k count=1 conv=notrunc \
                2>/dev/null || ok=1
            k=$((k + 1))
        done
    done
done
same "144 rewrites of a chunk in place, each its own commit" 0 echo $ok
check "every file is what was written" sh -c \
    "for i in 0 1 2 3 4 5; do cmp '$T/model'\$i '$MNT/s/f'\$i || exit 1; done"
# 96 MiB live; the first writes' value segments hold 72 MiB of dead chunks
# (once their live chunks moved, the segments go by the cleaner's hand or,
# when no snapshot needed the old versions, by themselves: either is right)
check "the cleaner moves the live chunks out while the mount runs" \
    wait_until 60 sh -c "[ \$(sed -n 's/^reclaim_bytes_copied: //p' '$MNT/.sop-stats') -gt 0 ]"
check "  and the data folder comes back under 130 MiB (96 live)" \
    wait_until 60 sh -c "[ \$(du -sm '$DATA' | cut -f1) -lt 130 ]"
echo "# data folder $(du_mib) MiB; reclaim_bytes_copied $(stat_of reclaim_bytes_copied)," \
    "reclaim_bytes_freed $(stat_of reclaim_bytes_freed)"
check "every file is still what was written" sh -c \
    "for i in 0 1 2 3 4 5; do cmp '$T/model'\$i '$MNT/s/f'\$i || exit 1; done"
check "remount" remount_fs
check "  every file is what was written" sh -c \
    "for i in 0 1 2 3 4 5; do cmp '$T/model'\$i '$MNT/s/f'\$i || exit 1; done"
check "rm -r" t rm -r "$MNT/s"
check "unmount" umount_fs
rm -f "$T"/model* "$T/base" "$T/patch"
finish
