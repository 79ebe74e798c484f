#!/bin/sh
# The main job, on a fresh Debian 12 machine as root: install what is
# missing, build, then mount a demo database with sopfs, copy files in and
# read them back, commit a directory-scoped transaction, unmount, remount to
# show everything stayed, and run the cookbook quickstart through libsop.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
demo=${SOP_DEMO_DIR:-/tmp/sop-demo}
data=$demo/data
mnt=$demo/mnt
fusermount3 -u "$mnt" 2>/dev/null || true
rm -rf "$demo"
mkdir -p "$mnt"
unmount() { fusermount3 -u "$mnt" 2>/dev/null || true; }
trap unmount EXIT INT TERM
mount_demo() {
    ./src/sopfs "$data" "$mnt"
    i=0
    until mountpoint -q "$mnt"; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "demo: sopfs did not mount $mnt" >&2; exit 1; }
        sleep 0.1
    done
}
say() { printf '\n== %s\n' "$*"; }

say "mount a new database: sopfs $data $mnt"
mount_demo
say "a store is a directory; copy files in (cp -r) and read them back"
mkdir "$mnt/docs"
cp -r /usr/share/common-licenses/. "$mnt/docs/"
ls -l "$mnt/docs" | head -8
diff -r /usr/share/common-licenses "$mnt/docs" && echo "docs: identical to /usr/share/common-licenses"
say "a big file streams in chunks (64 MiB)"
head -c 64M /dev/urandom > "$demo/big.bin"
cp "$demo/big.bin" "$mnt/docs/big.bin"
cmp "$demo/big.bin" "$mnt/docs/big.bin" && echo "big.bin: read back identical ($(stat -c %s "$mnt/docs/big.bin") bytes)"
say "a transaction over a directory: begin, two changes, commit"
mkdir "$mnt/accounts"
echo 100 > "$mnt/accounts/alice"
echo 0 > "$mnt/accounts/bob"
echo begin > "$mnt/accounts/.sop-txn"
echo 70 > "$mnt/accounts/alice"
echo 30 > "$mnt/accounts/bob"
cat "$mnt/accounts/.sop-txn"
echo commit > "$mnt/accounts/.sop-txn"
echo "after commit: alice=$(cat "$mnt/accounts/alice") bob=$(cat "$mnt/accounts/bob")"
say "a search store: each file a document, ranked by BM25"
mkdir "$mnt/articles"
setfattr -n user.sop.kind -v search "$mnt/articles"
echo "The quick brown fox" > "$mnt/articles/doc1"
echo "jumps over the lazy dog" > "$mnt/articles/doc2"
echo "a fox, a dog and another fox" > "$mnt/articles/doc3"
echo "sop search $mnt/articles 'quick fox':"
./tools/sop search "$mnt/articles" 'quick fox'
say "store options are extended attributes"
getfattr -d -m 'user.sop' "$mnt/accounts" 2>/dev/null || true
say "unmount, remount: everything is still there"
fusermount3 -u "$mnt"
mount_demo
ls "$mnt"
cmp "$demo/big.bin" "$mnt/docs/big.bin" && echo "big.bin: still identical"
echo "alice=$(cat "$mnt/accounts/alice") bob=$(cat "$mnt/accounts/bob")"
cat "$mnt/.sop-stats" | head -12
fusermount3 -u "$mnt"
rm -f "$demo/big.bin"
say "the same engine from C: the cookbook quickstart (100,000 profiles, a commit every 1,000)"
./tools/sop demo "$demo/quickstart"
