#!/bin/sh
# writers.sh - an auto-commit file commits at its opener's own last close:
# not when a forked child that inherited the descriptor exits, not when a
# dup(2) closes while the opener holds another, whether the opener is a
# shell or a C program (tests/fs/writers.c); kill -9 of the daemon around
# those closes keeps nothing uncommitted; two processes writing one file
# have a transaction each, and the later rewrite conflicts.
. "$(dirname "$0")/lib.sh"

W=$SOP_BUILDDIR/tests/fs/writers
[ -x "$W" ] || skip_all "no $W"

check "mount" mount_fs
t mkdir "$MNT/s"

# the shell: exec 3>, a builtin writing through a dup2 of it, a command
# forked meanwhile; the commit comes with exec 3>&- only
t sh -c "echo old > '$MNT/s/g'"
exec 3>"$MNT/s/g"
echo part1 >&3
/bin/true
same "shell: a builtin's dup and a forked command commit nothing" old t cat "$MNT/s/g"
echo part2 >&3
sh -c "echo child >&3" # a child writing through the inherited descriptor
same "  nor a child writing and exiting" old t cat "$MNT/s/g"
exec 3>&-
same "  the opener's close commits all of it" "part1 part2 child" \
    sh -c "cat '$MNT/s/g' | tr '\n' ' ' | sed 's/ \$//'"

same "C: forked children and system() commit nothing" ok t "$W" fork "$MNT/s/c"
same "C: closing a dup commits nothing while the original is open" ok t "$W" dup "$MNT/s/c"
same "C: the later of two processes' rewrites fails with EAGAIN" ok t "$W" conflict "$MNT/s/c"
same "C: a child holding the file on commits at its last close" ok t "$W" handover "$MNT/s/c"

# kill -9 while the opener holds the file after a child exited, with the
# shell and with the C program: nothing of either may be committed (not
# "i": lib.sh's wait_until uses it)
r=1
while [ $r -le 3 ]; do
    t sh -c "echo old > '$MNT/s/k$r'"
    exec 4>"$MNT/s/k$r"
    echo part1 >&4
    /bin/true
    echo part2 >&4
    rm -f "$T/held" # (the last round's "held" must not count)
    "$W" hold "$MNT/s/h$r" >"$T/held" &
    HOLD=$!
    check "round $r: the C program holds its file" wait_until 20 grep -q held "$T/held"
    check "round $r: kill -9 of the daemon" kill9_fs
    exec 4>&-
    kill "$HOLD" 2>/dev/null
    wait "$HOLD" 2>/dev/null
    check "round $r: mount again" mount_fs
    same "round $r: the shell's file keeps its old content" old t cat "$MNT/s/k$r"
    same "round $r: the C program's file is as its create left it" 0 st %s "$MNT/s/h$r"
    r=$((r + 1))
done

# the writer's own view: fstat, lseek(SEEK_END) and copy_file_range see its
# uncommitted writes and truncations; others read the committed bytes
same "a writer's fstat and SEEK_END see its own size; readers the old bytes" \
    "size 10 end 10 copied 3 read old" t python3 -c '
import os, sys
f = sys.argv[1]
open(f, "w").write("old\n")
fd = os.open(f, os.O_RDWR | os.O_TRUNC)
os.write(fd, b"0123456789")
size = os.fstat(fd).st_size
end = os.lseek(fd, 0, os.SEEK_END)
n = os.copy_file_range(fd, fd, 3, 0, 7)
r = open(f).read().strip()
os.ftruncate(fd, 4)
assert os.fstat(fd).st_size == 4, os.fstat(fd).st_size
os.close(fd)
assert open(f).read() == "0123", open(f).read()
print("size", size, "end", end, "copied", n, "read", r)' "$MNT/s/view"

# after close() returns, everyone sees the new size at once, even when the
# writer asked fstat meanwhile (its view was cached: the commit's
# invalidation must be done before the close returns)
same "300 rounds of write, fstat, close, then stat and read: never the old size" "0 0" \
    t python3 -c '
import os, sys
f = sys.argv[1]
bad_size = bad_read = 0
for i in range(300):
    data = b"x" * (i + 1)
    fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    os.fstat(fd)
    os.close(fd)
    if os.stat(f).st_size != len(data):
        bad_size += 1
    if open(f, "rb").read() != data:
        bad_read += 1
print(bad_size, bad_read)' "$MNT/s/sizes"

check "unmount" umount_fs
finish
