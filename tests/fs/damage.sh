#!/bin/sh
# damage.sh - damage stays local, is reported with its cause, and can be
# checked and repaired.  A database is made through a mount, then copies of
# its folder are damaged a byte at a time (tests/records.py finds the
# records): the first copy of the metadata store's root (its second copy is
# read), both copies of it (the mount reads with default attributes, and
# `sop drop DATA .sopfs` mends it), a chunk of a big file (that file alone
# answers EIO; sop dump skips it; sop check --repair copies the rest), a
# record followed by acknowledged commits in the log's unsynced end (they
# are kept), a commit record (the mount refuses with the cause, sop check
# says it and salvages), a torn end (cut, kept aside, reported), the newest
# checkpoint (the previous one is used).  `sop check` finds each, and says
# clean of the undamaged folder.
. "$(dirname "$0")/lib.sh"

SOP=$SOP_BUILDDIR/tools/sop
REC="python3 $SOP_SRCDIR/tests/records.py"
[ -x "$SOP" ] || skip_all "no $SOP"
command -v python3 >/dev/null || skip_all "no python3"

# the database: 60 small files, a 3 MB one (two whole chunks in a value
# segment, the rest in the log), a mode to keep
check "mount" mount_fs
t mkdir "$MNT/s" "$MNT/t"
i=0
while [ $i -lt 60 ]; do
    t sh -c "echo 'file $i' > '$MNT/s/f$i'"
    i=$((i + 1))
done
t chmod 600 "$MNT/s/f7"
head -c 3000000 /dev/urandom >"$T/big"
t cp "$T/big" "$MNT/s/big"
t sh -c "echo other > '$MNT/t/x'"
check "unmount (a checkpoint)" umount_fs
check "mount, write, unmount (another: the first is kept as checkpoint.prev)" \
    sh -c "true" # (the shell functions run below, in this shell)
# the last change touches the metadata store alone: the log's last node
# records are the two copies of its root
mount_fs && t sh -c "echo other2 > '$MNT/t/y'" && t chmod 640 "$MNT/t/y" && umount_fs
check "  checkpoint.prev is there" test -f "$DATA/checkpoint.prev"
CLEAN=$T/clean
cp -a "$DATA" "$CLEAN"
same "sop check of the undamaged folder: clean, status 0" "clean 0" \
    sh -c "'$SOP' check '$CLEAN' >'$T/o'; s=\$?; echo \$(sed -n 's/.*: \(clean\|damaged\) .*/\1/p' '$T/o') \$s"
SEG=00000001.seg

# copy DIR: a fresh copy of the clean folder as $DATA
copy() {
    rm -rf "$DATA"
    cp -a "$CLEAN" "$DATA"
}

# --- the first copy of the metadata store's root
copy
off=$($REC batch "$DATA/$SEG" 1)
t $REC flip "$DATA/$SEG" $((off + 4))
check "first copy of the newest node record damaged: the mount works" mount_fs
same "  attributes are right (read from the second copy)" "600 file 7" \
    sh -c "stat -c %a '$MNT/s/f7' | tr '\n' ' '; cat '$MNT/s/f7'"
check "  and a write works (it rewrites both copies)" t sh -c "echo new > '$MNT/s/new'"
umount_fs
copy
t $REC flip "$DATA/$SEG" $((off + 4))
same "sop check says which copy does not read, status 1" "1 first copy" \
    sh -c "'$SOP' check '$DATA' >'$T/o'; echo \$? \$(grep -o 'first copy' '$T/o' | head -n 1)"

# --- both copies of the metadata store's root: defaults, then drop .sopfs
copy
m=$($REC last "$DATA/$SEG" 1,2 2)
t $REC flip "$DATA/$SEG" $((m + 4))
m=$($REC last "$DATA/$SEG" 1,2 1)
t $REC flip "$DATA/$SEG" $((m + 4))
check "both copies of a root damaged: the mount still works" mount_fs
check "  stat of the root and of files works" t stat "$MNT" "$MNT/s/f1" "$MNT/t/x"
same "  ls lists every file" 61 sh -c "ls '$MNT/s' | wc -l"
same "  content reads" "file 3" t cat "$MNT/s/f3"
check "  the damage is in the log, with its cause" grep -q "is damaged" "$LOG"
umount_fs
check "sop drop DATA .sopfs works on the damaged store" t "$SOP" drop "$DATA" .sopfs
check "  then the mount" mount_fs
check "  writes again (default attributes)" t sh -c "echo x > '$MNT/s/again' && cat '$MNT/s/f5'"
umount_fs

# --- a chunk of the big file: that file alone
copy
VAL=$(ls "$DATA" | grep '\.val$' | head -n 1)
c=$($REC last "$DATA/$VAL" 3 1)
t $REC flip "$DATA/$VAL" $((c + 1000))
check "a damaged chunk: the mount works" mount_fs
same "  reading that file fails with EIO" EIO err 'open(F, "<", $ARGV[0]) or die; my $b; 1 while sysread(F, $b, 1 << 20); !$!' "$MNT/s/big"
same "  every other file reads" "file 59" t cat "$MNT/s/f59"
umount_fs
same "sop check names the store, the key and the chunk" "1 s big chunk" \
    sh -c "'$SOP' check '$DATA' >'$T/o'; echo \$? \$(grep -o \"store s, key 'big': chunk\" '$T/o' | sed \"s/store \(s\), key '\(big\)': \(chunk\)/\1 \2 \3/\")"
same "sop dump skips that item and says so, the others are dumped" "1 60 skipped" \
    sh -c "'$SOP' dump '$DATA' s >'$T/dump' 2>'$T/e'; echo \$? \$(grep -c '^[^#]' '$T/dump') \$(grep -o skipped '$T/e' | head -n 1)"
same "sop check --repair --into NEW copies the rest, says what was lost" 1 \
    sh -c "'$SOP' check --repair --into '$T/new' '$DATA' >'$T/o'; echo \$?"
check "  NEW checks clean" t "$SOP" check "$T/new"
DATA0=$DATA
DATA=$T/new
check "  and mounts" mount_fs
same "  with the other files" 60 sh -c "ls '$MNT/s' | wc -l"
same "  their attributes kept" 600 st %a "$MNT/s/f7"
umount_fs
DATA=$DATA0

# --- a record damaged in the log's unsynced end, acknowledged commits after
copy
check "mount" mount_fs
for f in a b c; do
    t sh -c "echo 'acknowledged $f' > '$MNT/s/ack$f'"
done
check "three files closed, then kill -9" kill9_fs
off=$($REC batch "$DATA/$SEG" 6)
t $REC flip "$DATA/$SEG" $((off + 4))
check "mount again" mount_fs
same "  the three acknowledged files are there" "acknowledged a acknowledged b acknowledged c" \
    sh -c "cat '$MNT/s/acka' '$MNT/s/ackb' '$MNT/s/ackc' | paste -sd' '"
check "  the log says the damaged record was skipped" grep -q "were skipped, the commits after them were kept" "$LOG"
check "  and .sop-stats says so" grep -q "^recovery: damaged" "$MNT/.sop-stats"
umount_fs

# --- a commit record: the mount refuses with the cause; check salvages
copy
check "mount" mount_fs
for f in a b c; do
    t sh -c "echo 'acknowledged $f' > '$MNT/s/ack$f'"
done
kill9_fs >/dev/null
cm=$($REC last "$DATA/$SEG" 4 3)
t $REC flip "$DATA/$SEG" $((cm + 2))
same "a damaged commit record: the mount refuses, status 1, with the cause" "1 follows commit" \
    sh -c "'$SOPFS' -f '$DATA' '$MNT' 2>'$T/e'; echo \$? \$(grep -o 'follows commit' '$T/e')"
same "sop check says the cause and checks what reads" "1 follows commit" \
    sh -c "'$SOP' check '$DATA' >'$T/o'; echo \$? \$(grep -o 'follows commit' '$T/o' | head -n 1)"
check "sop check --repair salvages into NEW" sh -c "'$SOP' check --repair --into '$T/new2' '$DATA' >/dev/null; [ -f '$T/new2/SOP' ]"
DATA=$T/new2
check "  which mounts" mount_fs
check "  with the files from before" t cat "$MNT/s/f9" "$MNT/t/x"
umount_fs
DATA=$DATA0

# --- a torn end: cut, kept aside, reported
copy
head -c 777 /dev/urandom >>"$DATA/$SEG"
check "a torn end: the mount works" mount_fs
check "  the log says what was cut" grep -q "torn bytes at the end of segment" "$LOG"
check "  .sop-stats says so" grep -q "^recovery: cut" "$MNT/.sop-stats"
same "  the bytes are kept aside" 777 sh -c "stat -c %s '$DATA'/torn-*.bin"
umount_fs
check "sop check notes the torn file" sh -c "'$SOP' check '$DATA' | grep -q '^note: .*torn-'"

# --- the newest checkpoint: the previous one is used
copy
t $REC flip "$DATA/checkpoint" 20
check "a damaged checkpoint: the mount works (the previous one and the log)" mount_fs
same "  every file is there" 61 sh -c "ls '$MNT/s' | wc -l"
same "  and the last one written" other2 t cat "$MNT/t/y"
check "  the log says which checkpoint was used" grep -q "the previous checkpoint was used" "$LOG"
umount_fs

finish
