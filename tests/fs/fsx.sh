#!/bin/sh
# fsx.sh - the random file exerciser (tests/fs/fsx.c) on a mount: reads,
# writes, mmap reads and writes, truncates up and down, copy_file_range,
# close and reopen, fstat and SEEK_END, each checked against a model, and
# readers of the committed content meanwhile; then a remount, after which
# every file must equal its model.  Seeds come from SOP_FSX_SEED (one seed,
# from which each run's is derived) or the time, and are printed.
. "$(dirname "$0")/lib.sh"

FSX=$SOP_BUILDDIR/tests/fs/fsx
[ -x "$FSX" ] || skip_all "no $FSX"
seed=${SOP_FSX_SEED:-$(( $(date +%s) % 100000 + 1 ))}
echo "# SOP_FSX_SEED=$seed repeats these runs"

check "mount" mount_fs
t mkdir "$MNT/s" "$MNT/small"
# a store of 4 KiB chunks: the same files cross hundreds of chunk boundaries
t setfattr -n user.sop.chunk_size -v 4096 "$MNT/small"

run=1
for store in s s small small; do
    s=$((seed * 10 + run))
    same "run $run ($store, seed $s): 2500 operations match the model" ok \
        sh -c "'$FSX' -n 2500 -s $s '$MNT/$store/f$run' '$T/model$run' | tail -n 40 >'$T/fsx$run';
               tail -n 1 '$T/fsx$run' | cut -c1-2; grep -v '^ok' '$T/fsx$run' >&2"
    run=$((run + 1))
done
check "remount" remount_fs
run=1
for store in s s small small; do
    check "run $run: the file equals its model after the remount" cmp "$T/model$run" "$MNT/$store/f$run"
    run=$((run + 1))
done
check "unmount" umount_fs
finish
