#!/bin/sh
# tree.sh - whole trees in and out of a store: cp -r, cp -a, rsync -a (a
# second rsync finds nothing to do: contents, modes, times and symlinks
# kept), find, a directory of 2000 entries listed in several readdir
# batches, mv of a tree, rm -r; checked again after remount.
. "$(dirname "$0")/lib.sh"

command -v rsync >/dev/null || skip_all "no rsync"

# a source tree: nested and empty directories, odd names, modes, times,
# symlinks, a file over several 1 MiB chunks, names rsync's temporary files
# would make look reserved (.sop.h.XXXXXX)
S=$T/src
mkdir -p "$S/a/b/c" "$S/d/e" "$S/empty/inner" "$S/many"
seq 1 1000 >"$S/a/numbers"
printf 'top\n' >"$S/top"
printf 'with space\n' >"$S/a/b/name with spaces"
printf 'utf8\n' >"$S/d/é-ü"
printf 'hidden\n' >"$S/d/.hidden"
printf 'sop\n' >"$S/sop.h"
printf 'sop-x\n' >"$S/sop-x"
dd if=/dev/urandom of="$S/d/e/big" bs=1024 count=3300 2>/dev/null
printf '#!/bin/sh\n' >"$S/a/run"
chmod 755 "$S/a/run"
chmod 600 "$S/top"
ln -s ../top "$S/a/up"
ln -s dangling "$S/d/nowhere"
i=0
while [ $i -lt 2000 ]; do
    : >"$S/many/f$i"
    i=$((i + 1))
done
find "$S" -exec touch -h -d '2011-11-11 11:11:11.123456789 UTC' {} +

listing() { # type, mode, size (files), mtime, name of everything below $1
    (cd "$1" && find . -mindepth 1 -printf '%y %m %s %T@ %P\n' |
        sed 's/^d \([0-7]*\) [0-9]* /d \1 - /; s/^l \([0-7]*\) [0-9]* /l - - /' | sort)
}
listing "$S" >"$T/want"

check "mount" mount_fs
check "mkdir a store" t mkdir "$MNT/store"
check "cp -r" t cp -r "$S" "$MNT/store/cp"
check "diff -r after cp -r" t diff -r --no-dereference "$S" "$MNT/store/cp"
check "cp -a" t cp -a "$S" "$MNT/store/cpa"
listing "$MNT/store/cpa" >"$T/got"
check "cp -a listing" cmp "$T/want" "$T/got"
check "rsync -a" t rsync -a "$S/" "$MNT/store/rs/"
check "diff -r after rsync -a" t diff -r --no-dereference "$S" "$MNT/store/rs"
listing "$MNT/store/rs" >"$T/got"
check "rsync -a keeps types, modes and times" cmp "$T/want" "$T/got"
check "a second rsync -a has nothing to do" \
    sh -c "test -z \"\$(timeout 120 rsync -a -i '$S/' '$MNT/store/rs/')\""
same "2000 entries listed" 2000 sh -c "ls '$MNT/store/rs/many' | wc -l"
same "find sees every entry" "$(cd "$S" && find . | wc -l)" sh -c "cd '$MNT/store/rs' && find . | wc -l"
check "mv of a tree" t mv "$MNT/store/rs" "$MNT/store/moved"
check "diff -r after mv" t diff -r --no-dereference "$S" "$MNT/store/moved"
check "rm -r" t rm -r "$MNT/store/cp"
check "rm -r removed it" sh -c "! test -e '$MNT/store/cp'"
check "du" t du -s "$MNT/store"

verify() {
    w=$1
    same "$w: the store" "cpa moved" sh -c "ls '$MNT/store' | tr '\n' ' ' | sed 's/ \$//'"
    check "$w: diff -r" t diff -r --no-dereference "$S" "$MNT/store/moved"
    listing "$MNT/store/moved" >"$T/got"
    check "$w: types, modes, times" cmp "$T/want" "$T/got"
    check "$w: rsync -a has nothing to do" \
        sh -c "test -z \"\$(timeout 120 rsync -a -i '$S/' '$MNT/store/moved/')\""
    check "$w: symlinks" sh -c "test \"\$(readlink '$MNT/store/moved/a/up')\" = ../top"
}
verify live
check "unmount and mount again" remount_fs

# readdirplus: right after a mount (nothing cached), a scan that needs every
# entry's attributes gets them with the listing, not with a lookup each
lookups() { sed -n 's/^lookups: //p' "$MNT/.sop-stats"; }
scan() { # empty files, and the modes ls -l shows, with their counts
    (cd "$1" && echo $(find . -type f -size 0 | wc -l) $(ls -l | awk 'NR > 1 {print $1}' | sort | uniq -c))
}
l0=$(lookups)
same "find -size and ls -l on 2000 entries: the right answer" "$(scan "$S/many")" scan "$MNT/store/moved/many"
l1=$(lookups)
check "  with the attributes from the listing ($((l1 - l0)) lookups for 2000 entries)" \
    test $((l1 - l0)) -lt 100
verify remounted
check "rm -r of everything, rmdir of the store" sh -c "rm -r '$MNT/store/moved' '$MNT/store/cpa' && rmdir '$MNT/store'"
check "clean unmount" umount_fs
finish
