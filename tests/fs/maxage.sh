#!/bin/sh
# maxage.sh - transactions older than the maximum age (-o txn_max_age=2).
#  - a directory scope (.sop-txn) left open past the age is rolled back by
#    the daemon (fs/scope.c): its changes are gone, the control file says
#    "state: failed" with the reason, changes below it answer ETIMEDOUT (the
#    errno sop.h's error table gives SOP_ETIMEDOUT), so do `commit` (again
#    and again) and writes through a descriptor opened inside the scope;
#    the daemon logs the rollback and why; `rollback` ends the scope and the
#    subtree works again; the same for a scope over the whole database;
#  - an auto-commit writer (a file open for writing) has no maximum age
#    (SOP_TXN_NOAGE: a slow copy of a big file must not fail): held open or
#    writing on past the age, its writes and its close succeed and commit;
#  - a reader older than the age reads on from its one snapshot, not a mix
#    of the old and the new content;
#  - everything is checked again after a remount.
# No timing is asserted: the test waits past the age (sleep 3 for a 2 s
# age) or polls the control file with a bound.
. "$(dirname "$0")/lib.sh"

command -v perl >/dev/null || skip_all "no perl"

txn_state() { # the state line of a control file
    t head -n 1 "$1"
}
state_is() { # state_is FILE STATE
    [ "$(txn_state "$1")" = "state: $2" ]
}
cmd() { # cmd FILE COMMAND: write a command to a control file, print ok or the errno
    err 'open(F, ">", $ARGV[0]) and print(F "$ARGV[1]\n") and close(F)' "$1" "$2"
}
age_lines() { # lines of the daemon's log about the maximum age
    grep -c 'maximum age' "$LOG"
}

check "mount with txn_max_age=2" mount_fs -o txn_max_age=2
t mkdir "$MNT/s" "$MNT/other"
t sh -c "echo old > '$MNT/s/keep'"

# --- a scope that commits in time is not affected
same "a scope begun" ok cmd "$MNT/s/.sop-txn" begin
t sh -c "echo quick > '$MNT/s/quick'"
same "and committed at once commits" ok cmd "$MNT/s/.sop-txn" commit
same "  its change" quick t cat "$MNT/s/quick"

# --- a scope left open past the age
same "begin a scope on s" ok cmd "$MNT/s/.sop-txn" begin
t sh -c "echo new > '$MNT/s/keep'; echo a > '$MNT/s/added'"
t mkdir "$MNT/s/dir"
same "its changes are visible in the subtree" "new a" sh -c "timeout 60 cat '$MNT/s/keep' '$MNT/s/added' | paste -sd' '"
same "the scope is active" "state: active" txn_state "$MNT/s/.sop-txn"
# a descriptor opened inside the scope, used again past the age (below)
mkfifo "$T/go"
t perl -e '
    open(F, ">", $ARGV[0]) or die "open: $!";
    syswrite(F, "in scope\n") or die "write: $!";
    open(G, "<", $ARGV[1]) or die "fifo: $!";   # waits for the go
    my $r = syswrite(F, "later\n");
    print $r ? "ok\n" : ($!{ETIMEDOUT} ? "ETIMEDOUT\n" : "errno " . (0 + $!) . "\n");
    print close(F) ? "closed\n" : "close: $!\n";' "$MNT/s/handle" "$T/go" >"$T/handle.out" 2>&1 &
HPID=$!
sleep 3
check "past the age the scope is found failed (bounded poll)" wait_until 30 state_is "$MNT/s/.sop-txn" failed
check "the control file gives the reason" \
    sh -c "timeout 60 cat '$MNT/s/.sop-txn' | grep -q '^error: transaction exceeded its maximum age and was rolled back'"
same "the changes are gone: old content" old t cat "$MNT/s/keep"
same "the changes are gone: no new file" ENOENT err 'lstat($ARGV[0])' "$MNT/s/added"
same "the changes are gone: no new directory" ENOENT err 'lstat($ARGV[0])' "$MNT/s/dir"
same "the changes are gone: no file from the open descriptor" ENOENT err 'lstat($ARGV[0])' "$MNT/s/handle"
same "a new file below it: ETIMEDOUT" ETIMEDOUT err 'open(my $f, ">", $ARGV[0])' "$MNT/s/more"
same "a write to a file below it: ETIMEDOUT" ETIMEDOUT err 'open(my $f, ">>", $ARGV[0])' "$MNT/s/keep"
same "mkdir below it: ETIMEDOUT" ETIMEDOUT err 'mkdir($ARGV[0])' "$MNT/s/dir2"
same "reads below it see the committed state" "keep quick" sh -c "ls '$MNT/s' | paste -sd' '"
: >"$T/go"
check "the descriptor opened inside the scope finished" wait $HPID
same "its write past the age: ETIMEDOUT" "ETIMEDOUT closed" sh -c "paste -sd' ' '$T/handle.out'"
same "commit: ETIMEDOUT" ETIMEDOUT cmd "$MNT/s/.sop-txn" commit
same "commit again: ETIMEDOUT again" ETIMEDOUT cmd "$MNT/s/.sop-txn" commit
same "the scope is still failed" "state: failed" txn_state "$MNT/s/.sop-txn"
check "outside the scope changes commit" t sh -c "echo fine > '$MNT/other/f'"
check "the daemon logged the rollback and why" \
    grep -q 'transaction [0-9]* of /s: older than the maximum age of 2.000 s: rolled back' "$LOG"
same "rollback ends it" ok cmd "$MNT/s/.sop-txn" rollback
same "state: rolled back" "state: rolled back" txn_state "$MNT/s/.sop-txn"
check "  with the reason kept" \
    sh -c "timeout 60 cat '$MNT/s/.sop-txn' | grep -q '^error: transaction exceeded its maximum age'"
same "commit with no scope open: EINVAL" EINVAL cmd "$MNT/s/.sop-txn" commit
check "the subtree takes changes again" t sh -c "echo after > '$MNT/s/after'"
same "  committed" after t cat "$MNT/s/after"

# --- a scope over the whole database
same "begin a scope at the root" ok cmd "$MNT/.sop-txn" begin
t mkdir "$MNT/newstore"
t sh -c "echo r > '$MNT/other/r'"
sleep 3
check "past the age it is found failed" wait_until 30 state_is "$MNT/.sop-txn" failed
same "the store it made is gone" ENOENT err 'lstat($ARGV[0])' "$MNT/newstore"
same "the file it made is gone" ENOENT err 'lstat($ARGV[0])' "$MNT/other/r"
same "a new store: ETIMEDOUT" ETIMEDOUT err 'mkdir($ARGV[0])' "$MNT/store3"
same "its commit: ETIMEDOUT" ETIMEDOUT cmd "$MNT/.sop-txn" commit
check "logged" grep -q 'transaction [0-9]* of /: older than the maximum age' "$LOG"
same "rollback ends it" ok cmd "$MNT/.sop-txn" rollback
check "changes commit again" t sh -c "echo r2 > '$MNT/other/r2'"

# --- auto-commit writers and readers have no maximum age
t sh -c "echo committed > '$MNT/s/w'"
same "a writer that closes in time commits" committed t cat "$MNT/s/w"
before=$(age_lines)
same "a writer holding its file open past the age: its close commits" ok \
    t perl -e '
        open(F, ">", $ARGV[0]) or die "open: $!";
        syswrite(F, "held\n") or die "write: $!";
        sleep 3;
        print close(F) ? "ok\n" : $!{ETIMEDOUT} ? "ETIMEDOUT\n" : "errno " . (0 + $!) . "\n"' "$MNT/s/w"
same "  its content is committed" held t cat "$MNT/s/w"
same "a writer writing on past the age: every write and its close succeed" "ok ok" \
    t perl -e '
        open(F, ">>", $ARGV[0]) or die "open: $!";
        my $w = "ok";
        for (1 .. 18) {    # 0.2 s apart: past the 2 s age
            unless (syswrite(F, "more\n")) { $w = $!{ETIMEDOUT} ? "ETIMEDOUT" : 0 + $!; last }
            select(undef, undef, undef, 0.2);
        }
        my $c = close(F) ? "ok" : $!{ETIMEDOUT} ? "ETIMEDOUT" : 0 + $!;
        print "$w $c\n"' "$MNT/s/w"
same "  all it wrote is committed" "held 18" sh -c "echo \$(head -n 1 '$MNT/s/w') \$(grep -c more '$MNT/s/w')"
same "  and nothing about an age was logged for them" "$before" age_lines
t sh -c "echo fresh > '$MNT/s/w'"
same "the next writer commits" fresh t cat "$MNT/s/w"

t sh -c "printf 'first version\n' > '$MNT/s/r'"
same "a reader older than the age reads on from its snapshot" ok \
    t perl -e '
        open(F, "<", $ARGV[0]) or die "open: $!";
        sysread(F, my $a, 6) == 6 or die "read: $!";
        system("sh", "-c", "printf \"SECOND VERSION\\n\" > \"$ARGV[0]\"") == 0 or die "replace";
        sleep 3;
        my $n = sysread(F, my $b, 100);
        defined $n or do { print $!{ETIMEDOUT} ? "ETIMEDOUT\n" : "errno " . (0 + $!) . "\n"; exit };
        print(($b eq "version\n") ? "ok\n" : "got [$a$b]\n")' "$MNT/s/r"
same "  and a new reader reads the new content" "SECOND VERSION" t cat "$MNT/s/r"

verify() {
    w=$1
    same "$w: the rolled-back scope left the old content" old t cat "$MNT/s/keep"
    same "$w: and none of its entries" "after keep quick r w" sh -c "ls '$MNT/s' | paste -sd' '"
    same "$w: the root scope's store is gone" "other s" sh -c "ls '$MNT' | paste -sd' '"
    same "$w: outside the scopes" "fine r2" sh -c "timeout 60 cat '$MNT/other/f' '$MNT/other/r2' | paste -sd' '"
    same "$w: the writers' last content" fresh t cat "$MNT/s/w"
}
verify live
check "unmount and mount again" remount_fs -o txn_max_age=2
verify remounted
check "clean unmount" umount_fs
finish
