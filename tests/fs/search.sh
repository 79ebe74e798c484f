#!/bin/sh
# search.sh - search and vector stores through the mount: a store made a
# search (or vector) store with `setfattr user.sop.kind`, documents written,
# rewritten, renamed and removed with ordinary tools, queries through the
# store's query file .sop-search and `sop search MOUNT/STORE`, a scope's
# documents seen inside it and gone after its rollback, bad queries refused
# with EINVAL, no query file in a records store; the same answers after a
# remount and from `sop search DIR STORE` on the unmounted folder.
. "$(dirname "$0")/lib.sh"

SOP=$SOP_BUILDDIR/tools/sop
[ -x "$SOP" ] || skip_all "no $SOP"
command -v setfattr >/dev/null || skip_all "no setfattr (attr package)"

# ask FILE REQUEST: one query through one descriptor, the answer on stdout
ask() {
    timeout 60 perl -e '
        open(my $f, "+<", $ARGV[0]) or die "open: $!\n";
        syswrite($f, $ARGV[1]) or die "write: " . ($!{EINVAL} ? "EINVAL" : $!) . "\n";
        while (sysread($f, my $b, 65536)) { print $b }' "$@"
}
askk() { # askk FILE REQUEST: the keys of the answer, on one line
    ask "$@" | cut -f 1 | paste -sd' '
}
aske() { # aske FILE REQUEST: the answer, or the error
    ask "$@" 2>&1
}
sorted_scores() { # the scores of an answer have 6 decimals and go down
    ask "$@" | awk -F'\t' '$2 !~ /^[0-9]+\.[0-9][0-9][0-9][0-9][0-9][0-9]$/ || (NR > 1 && $2 > p) { bad = 1 }
        { p = $2 } END { print bad ? "bad" : "ok" }'
}

check "mount" mount_fs
t mkdir "$MNT/articles" "$MNT/recs" "$MNT/vecs"
check "setfattr user.sop.kind=search" t setfattr -n user.sop.kind -v search "$MNT/articles"
same "  the kind reads back" search t getfattr --only-values -n user.sop.kind "$MNT/articles"
t sh -c "echo 'The quick brown fox' > '$MNT/articles/doc1'"
t sh -c "echo 'jumps over the lazy dog' > '$MNT/articles/doc2'"
t sh -c "echo 'a fox, a dog and a fox' > '$MNT/articles/doc3'"
t mkdir "$MNT/articles/more"
t sh -c "echo 'Fox news: FOX' > '$MNT/articles/more/doc4'"

verify_search() {
    w=$1
    same "$w: sop search MOUNT/STORE agrees with the query file" \
        "$(ask "$MNT/articles/.sop-search" 'quick fox')" t "$SOP" search "$MNT/articles" 'quick fox'
    same "$w: scores have 6 decimals, best first" ok sorted_scores "$MNT/articles/.sop-search" 'fox'
    same "$w: a word in no document: an empty answer" "" ask "$MNT/articles/.sop-search" 'yak'
}
same "fox ranks the documents holding it" "more/doc4 doc3 doc1" askk "$MNT/articles/.sop-search" 'fox'
same "k=2 keeps the best two" "more/doc4 doc3" askk "$MNT/articles/.sop-search" 'k=2 fox'
same "two words" "doc1" askk "$MNT/articles/.sop-search" 'k=1 quick fox'
verify_search live
same "ls does not show the query file" "doc1 doc2 doc3 more" sh -c "ls -a '$MNT/articles' | grep -v '^\\.' | paste -sd' '"
check "  nor ls -a" sh -c "! ls -a '$MNT/articles' | grep -q sop-search"
same "a records store has no query file" ENOENT err 'open(F, "+<", $ARGV[0])' "$MNT/recs/.sop-search"
same "nor has a directory inside a store" ENOENT err 'open(F, "+<", $ARGV[0])' "$MNT/articles/more/.sop-search"
same "the answer belongs to the descriptor: another query replaces it" "doc2" \
    timeout 60 perl -e '
        open(my $f, "+<", $ARGV[0]) or die;
        syswrite($f, "fox"); syswrite($f, "lazy");
        print join(" ", map { (split /\t/)[0] } <$f>), "\n"' "$MNT/articles/.sop-search"

# changes through ordinary tools reach the index
t sh -c "echo 'zebra crossing' > '$MNT/articles/doc2'"
same "a rewritten document: its new words" doc2 askk "$MNT/articles/.sop-search" 'zebra'
same "  and not its old ones" "" ask "$MNT/articles/.sop-search" 'lazy'
t mv "$MNT/articles/doc1" "$MNT/articles/renamed"
same "a renamed document answers under its new name" renamed \
    askk "$MNT/articles/.sop-search" 'quick'
t rm "$MNT/articles/doc3"
same "a removed document is gone" "more/doc4 renamed" askk "$MNT/articles/.sop-search" 'fox'
t sh -c "echo ' dolphin' >> '$MNT/articles/renamed'"
same "an append is indexed" renamed askk "$MNT/articles/.sop-search" 'dolphin'

# a scope: its documents are found inside it, and gone after its rollback
check "begin a scope on the store" t sh -c "echo begin > '$MNT/articles/.sop-txn'"
t sh -c "echo 'whale song' > '$MNT/articles/scoped'"
same "the scope's document is found inside the scope" scoped \
    askk "$MNT/articles/.sop-search" 'whale'
check "rollback" t sh -c "echo rollback > '$MNT/articles/.sop-txn'"
same "  and gone after the rollback" "" ask "$MNT/articles/.sop-search" 'whale'

# bad queries
same "k=x: EINVAL" "write: EINVAL" aske "$MNT/articles/.sop-search" 'k=x'
same "options only: EINVAL" "write: EINVAL" aske "$MNT/articles/.sop-search" 'k=3'
check "the reason is logged" grep -q 'query in articles: ' "$LOG"

# vector stores
check "setfattr user.sop.kind=vector" t setfattr -n user.sop.kind -v vector "$MNT/vecs"
t sh -c "printf '1 0 0\\npayload x\\n' > '$MNT/vecs/x'"
t sh -c "printf '[0, 1, 0]\\npayload y\\n' > '$MNT/vecs/y'"
t sh -c "printf '0.7,0.7,0\\npayload xy\\n' > '$MNT/vecs/xy'"
t sh -c "printf 'not a vector\\n' > '$MNT/vecs/junk'"
t sh -c "printf '1 2\\n' > '$MNT/vecs/flat'"
verify_vector() {
    w=$1
    same "$w: cosine: the nearest first" "x xy y" askk "$MNT/vecs/.sop-search" 'k=3 1 0.1 0'
    same "$w: k=1" "y" askk "$MNT/vecs/.sop-search" 'k=1 0 1 0'
    same "$w: l2 distances" "x	0.100000" ask "$MNT/vecs/.sop-search" 'k=1 metric=l2 1 0.1 0'
    same "$w: sop vector MOUNT/STORE" "xy x" sh -c "'$SOP' vector '$MNT/vecs' --k 2 '1 1 0' | cut -f 1 | paste -sd' '"
    same "$w: the payloads are untouched" "payload xy" sh -c "tail -n 1 '$MNT/vecs/xy'"
}
verify_vector live
check "items that are not vectors of the query's dimension are skipped, and logged" \
    grep -q 'item(s) skipped' "$LOG"
same "a bad vector: EINVAL" "write: EINVAL" aske "$MNT/vecs/.sop-search" 'k=2 1 x 0'
same "a bad metric: EINVAL" "write: EINVAL" aske "$MNT/vecs/.sop-search" 'metric=l3 1 0 0'
same "k=0: EINVAL for vectors" "write: EINVAL" aske "$MNT/vecs/.sop-search" 'k=0 1 0 0'

final() {
    w=$1
    same "$w: fox, after the changes" "more/doc4 renamed" askk "$MNT/articles/.sop-search" 'fox'
    same "$w: zebra" doc2 askk "$MNT/articles/.sop-search" 'zebra'
    same "$w: nothing of the rolled-back scope" "" ask "$MNT/articles/.sop-search" 'whale'
}
final live
check "remount" remount_fs
verify_search remounted
final remounted
verify_vector remounted
want=$(ask "$MNT/articles/.sop-search" 'quick fox')
check "unmount" umount_fs
same "sop search DIR STORE gives the same answer" "$want" "$SOP" search "$DATA" articles 'quick fox'
finish
