#!/bin/sh
# crashloop.sh - kill -9 of the daemon at random moments while files are
# written (auto-commit) and directory scopes commit batches, several rounds,
# each followed by a new mount that checks: every file whose close()
# returned 0 is there with its content; every other file is either complete
# or empty (created, never committed), never partial; every batch is all
# there or not at all, and all there when its commit returned.
. "$(dirname "$0")/lib.sh"

ROUNDS=8
BATCH=5
check "mount" mount_fs
t mkdir "$MNT/s"

# writer R: files s/wR_J until the mount goes; a path is printed once its
# close() returned 0.  Every 20th file is 80 KB (several writes, one commit).
writer() {
    perl -e '
        my ($dir, $r) = @ARGV;
        $| = 1;
        for (my $j = 0; ; $j++) {
            my $f = "$dir/w${r}_$j";
            my $n = $j % 20 == 19 ? 5000 : 50;
            open(F, ">", $f) or exit 0;
            print F "content $r $j\n" x $n or exit 0;
            close(F) or exit 0;
            print "$f $n\n";
        }' "$MNT/s" "$1" >>"$T/acked" 2>/dev/null
}

# batcher R: directories s/bR_K, each filled with BATCH files inside a scope;
# a directory is printed once its scope's commit returned 0.
batcher() {
    perl -e '
        my ($dir, $r, $batch) = @ARGV;
        $| = 1;
        sub ctl { open(C, ">", "$_[0]/.sop-txn") or return 0; print C "$_[1]\n" or return 0; close(C) }
        for (my $k = 0; ; $k++) {
            my $d = "$dir/b${r}_$k";
            mkdir($d) or exit 0;
            ctl($d, "begin") or exit 0;
            for my $i (1 .. $batch) {
                open(F, ">", "$d/f$i") or exit 0;
                print F "batch $r $k $i\n" or exit 0;
                close(F) or exit 0;
            }
            ctl($d, "commit") or exit 0;
            print "$d\n";
        }' "$MNT/s" "$1" "$BATCH" >>"$T/batches" 2>/dev/null
}

# check_files acked|others: the files named in $T/acked, or the writers'
# files not named there; prints the ones that are wrong
check_files() {
    t perl -e '
        my ($what, $list, $dir) = @ARGV;
        my %acked;
        open(L, "<", $list) or die "$list: $!";
        while (<L>) { my ($f, $n) = split; $acked{$f} = $n }
        my @files = $what eq "acked" ? sort keys %acked
                  : grep { !exists $acked{$_} } glob("$dir/w*");
        for my $f (@files) {
            my ($r, $j) = $f =~ m{/w(\d+)_(\d+)$} or do { print "$f: bad name\n"; next };
            my $n = $j % 20 == 19 ? 5000 : 50;
            my $want = "content $r $j\n" x $n;
            my $got = "";
            if (open(F, "<", $f)) { local $/; $got = <F> // ""; close F }
            elsif ($what eq "acked") { print "$f: $!\n"; next }
            next if $what ne "acked" && $got eq "";
            print "$f: ", length($got), " bytes\n" if $got ne $want;
        }' "$1" "$T/acked" "$MNT/s"
}

: >"$T/acked"
: >"$T/batches"
r=1
while [ $r -le $ROUNDS ]; do
    writer $r &
    W=$!
    batcher $r &
    B=$!
    # 300 to 1300 ms
    ms=$((300 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 1000))
    sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
    check "round $r: kill -9 after $ms ms" kill9_fs
    check "round $r: the writers see the mount gone and end" \
        wait_until 20 sh -c "! kill -0 $W 2>/dev/null && ! kill -0 $B 2>/dev/null"
    kill -9 $W $B 2>/dev/null
    wait $W $B 2>/dev/null
    check "round $r: mount again" mount_fs

    same "round $r: every acknowledged file is there, whole" "" check_files acked
    same "round $r: every other file is whole or empty, never partial" "" check_files others
    same "round $r: every batch is all there or not at all, and all there if committed" "" \
        t perl -e '
            my ($dir, $list, $batch) = @ARGV;
            open(L, "<", $list) or die "$list: $!";
            my %done = map { chomp; ($_ => 1) } <L>;
            for my $d (glob("$dir/b*")) {
                opendir(D, $d) or do { print "$d: $!\n"; next };
                my $c = grep { !/^\./ } readdir(D);
                closedir D;
                print "$d: committed, $c files\n" if $done{$d} && $c != $batch;
                print "$d: $c files\n" if !$done{$d} && $c != 0 && $c != $batch;
            }' "$MNT/s" "$T/batches" "$BATCH"
    r=$((r + 1))
done
same "acknowledged writes in all" yes sh -c "[ \$(wc -l < '$T/acked') -gt 0 ] && [ \$(wc -l < '$T/batches') -gt 0 ] && echo yes"
check "clean unmount" umount_fs
finish
