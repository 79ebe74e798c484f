#!/bin/sh
# posix.sh - a POSIX conformance subset in the spirit of pjdfstest, on a
# mount with allow_other (default_permissions is always on: the kernel checks
# modes against the owner, group and mode sopfs reports).  The test runs as
# root; unprivileged cases run as two other users through setpriv(1):
# U1 (65534, nobody) and U2 (65533).  Each case checks the errno (the perl
# helper `pe` prints "ok" or the errno's name) or the resulting attributes:
#  - open/creat: mode & ~umask, the caller's uid and gid, O_EXCL (EEXIST),
#    O_TRUNC, O_APPEND, a file created with mode 0 is writable through the
#    descriptor that created it, ENOENT, ENOTDIR, EISDIR, ENAMETOOLONG;
#  - chmod, chown, chgrp by the owner, another user (EPERM) and root; chown
#    clears the set-user-ID bit; ctime moves;
#  - EACCES: read, write, exec without the bits, search (x) of a directory,
#    create/unlink/rename in a directory without w or x, readdir without r;
#  - sticky directories: only the owner of the file or of the directory (or
#    root) may unlink or rename (EPERM);
#  - mkdir/rmdir: EEXIST, ENOTEMPTY, ENOTDIR, ENOENT, EINVAL ("."), unlink of
#    a directory EISDIR (Linux);
#  - rename: file over file, directory over an empty directory, over a
#    non-empty one (ENOTEMPTY), file over directory (EISDIR), directory over
#    file (ENOTDIR), into its own subdirectory (EINVAL), across stores;
#  - hard links: one inode and its st_nlink through every name, its bytes
#    and mode shared, unlink and rename of one name, rename of two names of
#    one file onto each other (nothing happens), links of special files and
#    symlinks, EPERM for a directory, EXDEV to another store, EEXIST, as
#    another user, all kept across a remount;
#  - special files: mkfifo, mknod of character and block devices, bind of a
#    unix socket: their types, modes, owners and device numbers, a FIFO
#    that carries data, rename and unlink, all kept across a remount;
#  - directory times: create, unlink, mkdir, rmdir and rename move the
#    directory's mtime and ctime (and both directories' for a rename);
#  - st_nlink of a directory: 2 plus its subdirectories, through mkdir,
#    rmdir and renames between directories;
#  - symlink/readlink: owner, target, dangling (ENOENT), loop (ELOOP),
#    readlink of a file (EINVAL), EEXIST;
#  - truncate/ftruncate: growth reads zeros, shrink, EACCES, EISDIR, EINVAL;
#  - utimensat: explicit times (nanoseconds), UTIME_OMIT, UTIME_NOW; NOW by
#    a non-owner with write access, EACCES without; explicit times by a
#    non-owner EPERM even with write access;
#  - ENAMETOOLONG for a 256-byte name (create, mkdir, stat, rename, symlink);
#  - depth: a tree three times PATH_MAX deep, made and used by chdir, with
#    files, a rename and a hard link at the bottom, kept across a remount.
# The persistent results (modes, owners, times, contents, links, sticky bit)
# are checked again after unmount and mount.
#
# Where sopfs deliberately differs from POSIX (ARCHITECTURE.md, DESIGN.md
# section 3), the test checks what sopfs does and says so in the name:
# hard links stay inside their store (EXDEV to another); the mount root
# holds stores only (a file there: EPERM).
. "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || skip_all "no setpriv(1) to run cases as another user"
command -v perl >/dev/null || skip_all "no perl"
[ "$(id -u)" = 0 ] || skip_all "must run as root (cases run as other users through setpriv)"

U1=65534
U2=65533
# the users must reach the mount point below the test's private folder
chmod 755 "$T"

# as WHO: the command prefix that runs as WHO (root, u1, u2; u1g is U1 with
# U2's group as a supplementary group)
as() {
    case $1 in
    root) ;;
    u1) echo "setpriv --reuid=$U1 --regid=$U1 --clear-groups" ;;
    u2) echo "setpriv --reuid=$U2 --regid=$U2 --clear-groups" ;;
    u1g) echo "setpriv --reuid=$U1 --regid=$U1 --groups=$U1,$U2" ;;
    esac
}

# pe WHO CODE ARGS...: evaluate the perl CODE as WHO with umask 022 and ARGS
# in @ARGV; print "ok" when it is true (or its value when that is a string
# other than 1), else the errno's name.  Fcntl and POSIX are loaded; u()
# calls utimensat(AT_FDCWD, path, [atime, mtime], 0) with "NOW", "OMIT" or
# SECONDS.NANOSECONDS for each time.
pe() {
    who=$1
    shift
    # shellcheck disable=SC2046
    t $(as "$who") perl -e '
        use Errno;
        use Fcntl;
        use POSIX ();
        umask(022);
        sub u {
            my ($path, @tv) = @_;
            require "syscall.ph";
            my @ts = map {
                $_ eq "NOW" ? (0, (1 << 30) - 1) : $_ eq "OMIT" ? (0, (1 << 30) - 2)
                    : do { my ($s, $n) = split /\./; ($s, substr(($n // "") . "000000000", 0, 9) + 0) }
            } @tv;
            return syscall(&SYS_utimensat, -100, $path, pack("q4", @ts), 0) == 0;
        }
        my $code = shift @ARGV;
        my $r = eval $code;
        if ($r) { print $r eq "1" ? "ok\n" : "$r\n"; exit 0 }
        die $@ if $@;
        for my $e (sort keys %!) { if ($!{$e}) { print "$e\n"; exit 0 } }
        print "errno ", 0 + $!, "\n";' "$@"
}

# ok_as WHO CMD...: run a command as WHO (its status is the verdict's)
ok_as() {
    who=$1
    shift
    # shellcheck disable=SC2046
    t $(as "$who") "$@"
}

# gone WHO PATH: lstat answers ENOENT
gone() {
    pe "$1" 'lstat($ARGV[0])' "$2"
}

P=$MNT/p
LONG=$(printf '%0256d' 0)
L255=$(printf '%0255d' 0)

check "mount with allow_other" mount_fs -o allow_other
check "a store for the cases, mode 0777" sh -c "mkdir '$P' && chmod 0777 '$P'"
same "a store made by another user in the 0755 root: EACCES" EACCES pe u1 'mkdir($ARGV[0])' "$MNT/nobodys"
same "a file at the mount root: EPERM (sopfs: the root holds stores only)" EPERM \
    pe root 'open($f, ">", $ARGV[0])' "$MNT/file"

# ------------------------------------------------------------------ open
same "creat as U1, mode 0666, umask 022" ok pe u1 'sysopen($f, $ARGV[0], O_CREAT | O_WRONLY, 0666)' "$P/c1"
same "  gets mode 0644 and U1's uid and gid" "644 $U1 $U1 regular empty file" st '%a %u %g %F' "$P/c1"
same "creat as U2 with umask 077 and mode 0755" ok \
    pe u2 'umask(077); sysopen($f, $ARGV[0], O_CREAT | O_WRONLY, 0755)' "$P/c2"
same "  gets mode 0700 and U2's uid and gid" "700 $U2 $U2" st '%a %u %g' "$P/c2"
same "creat as U1 with umask 0 and mode 0640" ok pe u1 'umask(0); sysopen($f, $ARGV[0], O_CREAT | O_WRONLY, 0640)' "$P/c3"
same "  gets mode 0640" 640 st %a "$P/c3"
same "creat with supplementary groups takes the primary gid" ok \
    pe u1g 'sysopen($f, $ARGV[0], O_CREAT | O_WRONLY, 0600)' "$P/c4"
same "  gid is U1's" "$U1 $U1" st '%u %g' "$P/c4"
same "a file created with mode 0 is writable through its creating descriptor" ok \
    pe u1 'sysopen($f, $ARGV[0], O_CREAT | O_RDWR, 0) and syswrite($f, "zero") == 4 and close($f)' "$P/mode0"
same "  it has mode 0 and the bytes" "0 4 zero" sh -c "stat -c '%a %s' '$P/mode0' | tr '\n' ' '; timeout 60 cat '$P/mode0'"
same "  reopening it as its owner: EACCES" EACCES pe u1 'open($f, "<", $ARGV[0])' "$P/mode0"
same "O_CREAT|O_EXCL on an existing file: EEXIST" EEXIST \
    pe u1 'sysopen($f, $ARGV[0], O_CREAT | O_EXCL | O_WRONLY, 0644)' "$P/c1"
t ln -s c1 "$P/c1link"
same "O_CREAT|O_EXCL on a symlink to an existing file: EEXIST" EEXIST \
    pe u1 'sysopen($f, $ARGV[0], O_CREAT | O_EXCL | O_WRONLY, 0644)' "$P/c1link"
t ln -s nowhere "$P/dangle"
same "O_CREAT|O_EXCL on a dangling symlink: EEXIST" EEXIST \
    pe u1 'sysopen($f, $ARGV[0], O_CREAT | O_EXCL | O_WRONLY, 0644)' "$P/dangle"
same "  and made no file" ENOENT gone u1 "$P/nowhere"
same "O_CREAT without O_EXCL opens an existing file" ok pe u1 'sysopen($f, $ARGV[0], O_CREAT | O_WRONLY, 0600)' "$P/c1"
same "  its mode is unchanged" 644 st %a "$P/c1"
t sh -c "printf hello > '$P/c1'"
same "O_TRUNC" ok pe u1 'sysopen($f, $ARGV[0], O_WRONLY | O_TRUNC) and close($f)' "$P/c1"
same "  empties the file" 0 st %s "$P/c1"
t sh -c "printf ab > '$P/c1'"
same "O_APPEND writes at the end whatever the offset" ok \
    pe u1 'sysopen($f, $ARGV[0], O_WRONLY | O_APPEND) and sysseek($f, 0, 0) and syswrite($f, "cd") == 2 and sysseek($f, 0, 0) and syswrite($f, "ef") == 2 and close($f)' "$P/c1"
same "  content" abcdef t cat "$P/c1"
same "open of a missing file: ENOENT" ENOENT pe u1 'open($f, "<", $ARGV[0])' "$P/missing"
same "creat in a missing directory: ENOENT" ENOENT pe u1 'sysopen($f, $ARGV[0], O_CREAT | O_WRONLY, 0644)' "$P/nodir/f"
same "a file as a path component: ENOTDIR" ENOTDIR pe u1 'open($f, "<", $ARGV[0])' "$P/c1/x"
same "creat below a file: ENOTDIR" ENOTDIR pe u1 'sysopen($f, $ARGV[0], O_CREAT | O_WRONLY, 0644)' "$P/c1/x"
same "O_DIRECTORY on a file: ENOTDIR" ENOTDIR pe u1 'sysopen($f, $ARGV[0], O_RDONLY | O_DIRECTORY)' "$P/c1"
t mkdir "$P/adir"
same "a directory opened for writing: EISDIR" EISDIR pe root 'sysopen($f, $ARGV[0], O_WRONLY)' "$P/adir"
same "creat of a 256-byte name: ENAMETOOLONG" ENAMETOOLONG pe u1 'sysopen($f, $ARGV[0], O_CREAT | O_WRONLY, 0644)' "$P/$LONG"
same "creat of a 255-byte name" ok pe u1 'sysopen($f, $ARGV[0], O_CREAT | O_WRONLY, 0644)' "$P/$L255"
same "stat of a 256-byte name: ENAMETOOLONG" ENAMETOOLONG pe u1 'stat($ARGV[0])' "$P/$LONG"
same "mkdir of a 256-byte name: ENAMETOOLONG" ENAMETOOLONG pe u1 'mkdir($ARGV[0])' "$P/$LONG"
same "rename to a 256-byte name: ENAMETOOLONG" ENAMETOOLONG pe u1 'rename($ARGV[0], $ARGV[1])' "$P/$L255" "$P/$LONG"
same "symlink named with 256 bytes: ENAMETOOLONG" ENAMETOOLONG pe u1 'symlink("x", $ARGV[0])' "$P/$LONG"

# ------------------------------------------------------------------ special files
same "mkfifo as U1" ok pe u1 'POSIX::mkfifo($ARGV[0], 0640) ? 1 : 0' "$P/fifo"
same "  a FIFO, mode 0640, U1's" "fifo 640 $U1 $U1" st '%F %a %u %g' "$P/fifo"
same "  carries data between two processes" "through the fifo" \
    t sh -c "(echo 'through the fifo' > '$P/fifo') & cat '$P/fifo'; wait"
same "mknod of a character device (root)" ok pe root 'syscall(133, $ARGV[0], 020644, (1 << 8) | 3) == 0' "$P/chr"
same "  character special file 1:3" "character special file 1 3" st '%F %Hr %Lr' "$P/chr"
same "mknod of a block device (root)" ok pe root 'syscall(133, $ARGV[0], 060600, (7 << 8) | 2) == 0' "$P/blk"
same "  block special file 7:2, mode 0600" "block special file 7 2 600" st '%F %Hr %Lr %a' "$P/blk"
same "mknod of a device by U1: EPERM" EPERM pe u1 'syscall(133, $ARGV[0], 020644, 259) == 0' "$P/chr2"
same "bind of a unix socket as U1" ok pe u1 'use Socket; socket(S, AF_UNIX, SOCK_STREAM, 0) and bind(S, pack_sockaddr_un($ARGV[0]))' "$P/sock"
same "  a socket" "socket $U1" st '%F %u' "$P/sock"
same "rename of a FIFO" ok pe u1 'rename($ARGV[0], $ARGV[1])' "$P/fifo" "$P/fifo2"
same "  still a FIFO" fifo st %F "$P/fifo2"
same "unlink of a socket" ok pe u1 'unlink($ARGV[0])' "$P/sock"
same "ls -l shows the types" "brw crw prw" sh -c "ls -l '$P' | awk '/^[bcp]/ {print substr(\$1, 1, 3)}' | sort | paste -sd' '"

# ------------------------------------------------------------------ huge sparse files
same "truncate -s 999999999999999 and rm take moments (the cost follows the stored chunks)" ok \
    t sh -c "s=\$(date +%s); truncate -s 999999999999999 '$P/huge' && echo x | dd of='$P/huge' bs=1 seek=5000000000000 conv=notrunc 2>/dev/null && rm '$P/huge' && [ \$((\$(date +%s) - s)) -lt 20 ] && echo ok"

# ------------------------------------------------------------------ depth
DEEP='import os, sys
os.chdir(sys.argv[1]); name = "d" * 250
for i in range(50): # 50 x 251 bytes: three times PATH_MAX
    if sys.argv[2] == "make": os.mkdir(name)
    os.chdir(name)
if sys.argv[2] == "make":
    open("f", "w").write("at the bottom"); os.rename("f", "g"); os.link("g", "h")
print(open("g").read(), os.stat("h").st_nlink, len(os.listdir(".")))'
same "a tree 12 KiB deep (chdir and relative paths): files, rename, hard link" "at the bottom 2 2" \
    t python3 -c "$DEEP" "$P" make

t sh -c "printf data > '$P/own'"
t chown "$U1:$U1" "$P/own"
ctime0=$(st %z "$P/own")
same "chmod by the owner" ok pe u1 'chmod(0640, $ARGV[0])' "$P/own"
same "  mode 0640" 640 st %a "$P/own"
check "  ctime moved" test "$(st %z "$P/own")" != "$ctime0"
same "chmod by another user: EPERM" EPERM pe u2 'chmod(0777, $ARGV[0])' "$P/own"
same "chown to another uid by the owner: EPERM" EPERM pe u1 "chown($U2, -1, \$ARGV[0])" "$P/own"
same "chown by another user: EPERM" EPERM pe u2 "chown($U2, $U2, \$ARGV[0])" "$P/own"
same "chgrp by the owner to a group it is not in: EPERM" EPERM pe u1 "chown(-1, $U2, \$ARGV[0])" "$P/own"
same "chgrp by the owner to a supplementary group" ok pe u1g "chown(-1, $U2, \$ARGV[0])" "$P/own"
same "  uid and gid" "$U1 $U2" st '%u %g' "$P/own"
same "chown to itself by the owner (no change)" ok pe u1 "chown($U1, -1, \$ARGV[0])" "$P/own"
same "chown by root" ok pe root "chown($U2, $U2, \$ARGV[0])" "$P/own"
same "  uid and gid" "$U2 $U2" st '%u %g' "$P/own"
t sh -c "printf x > '$P/suid'"
t chmod 4755 "$P/suid"
same "chmod 4755 keeps the set-user-ID bit" 4755 st %a "$P/suid"
same "chown by root" ok pe root "chown($U1, $U1, \$ARGV[0])" "$P/suid"
same "  clears the set-user-ID bit" "755 $U1" st '%a %u' "$P/suid"
t mkdir "$P/sgid"
t chmod 2775 "$P/sgid"
same "a directory keeps the set-group-ID bit" 2775 st %a "$P/sgid"
same "chmod of a missing file: ENOENT" ENOENT pe root 'chmod(0644, $ARGV[0])' "$P/missing"

# ------------------------------------------------------------------ EACCES
t sh -c "printf secret > '$P/priv'"
t chown "$U1:$U1" "$P/priv"
t chmod 0600 "$P/priv"
same "read without r (other): EACCES" EACCES pe u2 'open($f, "<", $ARGV[0])' "$P/priv"
same "write without w (other): EACCES" EACCES pe u2 'open($f, ">>", $ARGV[0])' "$P/priv"
same "the owner reads its 0600 file" secret pe u1 'open($f, "<", $ARGV[0]) and scalar(<$f>)' "$P/priv"
t chmod 0200 "$P/priv"
same "read without r (owner, mode 0200): EACCES" EACCES pe u1 'open($f, "<", $ARGV[0])' "$P/priv"
same "root reads a 0200 file (DAC override)" secret pe root 'open($f, "<", $ARGV[0]) and scalar(<$f>)' "$P/priv"
t chmod 0464 "$P/priv"
t chown "$U2:$U2" "$P/priv"
same "a member of the group, not the owner, writes (mode 0464)" ok pe u1g 'open($f, ">>", $ARGV[0])' "$P/priv"
same "the same user outside the group: EACCES" EACCES pe u1 'open($f, ">>", $ARGV[0])' "$P/priv"
t chown "$U1:$U2" "$P/priv"
same "the owner's bits win over the group's (owner r--, group rw-): EACCES" EACCES \
    pe u1g 'open($f, ">>", $ARGV[0])' "$P/priv"
printf '#!/bin/sh\necho ran\n' >"$T/script"
t cp "$T/script" "$P/script"
t chmod 0755 "$P/script"
same "exec of a 0755 script" ran pe u2 'exec($ARGV[0]); 0' "$P/script"
t chmod 0644 "$P/script"
same "exec without x: EACCES" EACCES pe u2 'exec($ARGV[0]); 0' "$P/script"
same "exec without x, even as root: EACCES" EACCES pe root 'exec($ARGV[0]); 0' "$P/script"
t mkdir "$P/locked" "$P/ro" "$P/wonly" "$P/noread"
t sh -c "echo in > '$P/locked/f'; echo in > '$P/ro/f'; echo in > '$P/wonly/f'; echo in > '$P/noread/f'"
t chown -R "$U1:$U1" "$P/locked" "$P/ro" "$P/wonly" "$P/noread"
t chmod 0666 "$P/locked"
t chmod 0555 "$P/ro"
t chmod 0333 "$P/wonly"
t chmod 0711 "$P/noread"
same "stat through a directory without x (owner): EACCES" EACCES pe u1 'stat($ARGV[0])' "$P/locked/f"
same "open through a directory without x (other): EACCES" EACCES pe u2 'open($f, "<", $ARGV[0])' "$P/locked/f"
same "create in a directory with w but without x: EACCES" EACCES pe u1 'open($f, ">", $ARGV[0])' "$P/locked/new"
same "create in a directory without w: EACCES" EACCES pe u1 'open($f, ">", $ARGV[0])' "$P/ro/new"
same "mkdir in a directory without w: EACCES" EACCES pe u1 'mkdir($ARGV[0])' "$P/ro/newdir"
same "unlink in a directory without w: EACCES" EACCES pe u1 'unlink($ARGV[0])' "$P/ro/f"
same "rename out of a directory without w: EACCES" EACCES pe u1 'rename($ARGV[0], $ARGV[1])' "$P/ro/f" "$P/fromro"
same "rename into a directory without w: EACCES" EACCES pe u1 'rename($ARGV[0], $ARGV[1])' "$P/c3" "$P/ro/c3"
same "symlink in a directory without w: EACCES" EACCES pe u1 'symlink("x", $ARGV[0])' "$P/ro/l"
same "read in a directory without w still works" in pe u1 'open($f, "<", $ARGV[0]) and scalar(<$f>)' "$P/ro/f"
same "readdir without r: EACCES" EACCES pe u2 'opendir($d, $ARGV[0])' "$P/noread"
same "  but a known name opens (x only)" in pe u2 'open($f, "<", $ARGV[0]) and scalar(<$f>)' "$P/noread/f"
same "create in a -wx directory" ok pe u1 'open($f, ">", $ARGV[0])' "$P/wonly/new"
same "unlink in a -wx directory" ok pe u1 'unlink($ARGV[0])' "$P/wonly/new"
same "root creates in a 0555 directory (DAC override)" ok pe root 'open($f, ">", $ARGV[0])' "$P/ro/byroot"

# ------------------------------------------------------------------ sticky
t mkdir "$P/tmp"
t chmod 1777 "$P/tmp"
same "a sticky directory keeps its mode" 1777 st %a "$P/tmp"
for f in a b c d; do pe u1 'open($f, ">", $ARGV[0])' "$P/tmp/$f" >/dev/null; done
same "U1's files in it belong to U1" "$U1" st %u "$P/tmp/a"
same "sticky: another user's unlink: EPERM" EPERM pe u2 'unlink($ARGV[0])' "$P/tmp/a"
same "sticky: another user's rename of it: EPERM" EPERM pe u2 'rename($ARGV[0], $ARGV[1])' "$P/tmp/a" "$P/tmp/z"
pe u2 'open($f, ">", $ARGV[0])' "$P/tmp/byu2" >/dev/null
same "sticky: renaming over another user's file: EPERM" EPERM pe u2 'rename($ARGV[0], $ARGV[1])' "$P/tmp/byu2" "$P/tmp/b"
same "sticky: the file's owner unlinks it" ok pe u1 'unlink($ARGV[0])' "$P/tmp/a"
same "sticky: the file's owner renames it" ok pe u1 'rename($ARGV[0], $ARGV[1])' "$P/tmp/b" "$P/tmp/b2"
same "sticky: root unlinks anyone's file" ok pe root 'unlink($ARGV[0])' "$P/tmp/c"
t chown "$U2" "$P/tmp"
same "sticky: the directory's owner unlinks anyone's file" ok pe u2 'unlink($ARGV[0])' "$P/tmp/d"
t chmod 0777 "$P/tmp"
same "without the sticky bit another user may unlink" ok pe u2 'unlink($ARGV[0])' "$P/tmp/b2"
t chmod 1777 "$P/tmp"

# ------------------------------------------------------------------ times, set-ID bits, open unlinked files
t mkdir -m 0777 "$P/tm"
t touch -d @1000000000 "$P/tm"
before=$(date +%s)
same "creat for the times" ok pe u1 'open($f, ">", $ARGV[0])' "$P/tm/new"
same "a new file's atime, mtime and ctime are now and equal" ok \
    sh -c "set -- \$(stat -c '%.9X %.9Y %.9Z %Y' '$P/tm/new'); [ \$1 = \$2 ] && [ \$2 = \$3 ] && [ \$4 -ge $before ] && echo ok || echo \$*"
t touch -d @1000000000 "$P/tm/new"
same "a write moves mtime and ctime" ok \
    sh -c "c0=\$(stat -c %.9Z '$P/tm/new'); $(as u1) perl -e 'open(F, \">>\", \$ARGV[0]) and print F \"x\"' '$P/tm/new'; set -- \$(stat -c '%Y %.9Z' '$P/tm/new'); [ \$1 -ge $before ] && [ \$2 != \$c0 ] && echo ok || echo \$* \$c0"
same "a create moves the directory's mtime and ctime" ok \
    sh -c "set -- \$(stat -c '%Y %Z' '$P/tm'); [ \$1 -ge $before ] && [ \$2 -ge $before ] && echo ok || echo \$*"
t sh -c "echo x > '$P/tm/g'"
t chown "$U1:$U2" "$P/tm/g"
same "chmod 2755 by the owner outside the file's group" ok pe u1 'chmod(02755, $ARGV[0])' "$P/tm/g"
same "  the kernel drops the set-group-ID bit" 755 st %a "$P/tm/g"
same "chmod 2755 by the owner in the file's group" ok pe u1g 'chmod(02755, $ARGV[0])' "$P/tm/g"
same "  keeps it" 2755 st %a "$P/tm/g"
t sh -c "echo x > '$P/tm/su'"
t chmod 6777 "$P/tm/su"
same "truncate by another user" ok pe u1 'truncate($ARGV[0], 1)' "$P/tm/su"
same "  clears the set-user-ID and set-group-ID bits" 777 st %a "$P/tm/su"
t chmod 4777 "$P/tm/su"
same "a write by another user" ok pe u1 'open($f, ">>", $ARGV[0]) and syswrite($f, "y") and close($f)' "$P/tm/su"
same "  clears the set-user-ID bit (Linux: file_remove_privs)" 777 st %a "$P/tm/su"
t chmod 6777 "$P/tm/su"
same "  fstat on the writing descriptor, before its close, shows the bits cleared" 777 \
    pe u1 'open($f, ">>", $ARGV[0]) and syswrite($f, "w") and sprintf("%o", (stat($f))[2] & 07777)' "$P/tm/su"
t chmod 4777 "$P/tm/su"
same "a write by another user while a reader holds the file open (a direct_io writer)" "" \
    t sh -c "exec 7<'$P/tm/su'; $(as u1) perl -e 'open(F, \">>\", \$ARGV[0]) and syswrite(F, \"z\") and close(F) or print \"fail \$!\"' '$P/tm/su'"
same "  clears the set-user-ID bit too" 777 st %a "$P/tm/su"
t mkdir "$P/tm/shared"
t chown "0:$U2" "$P/tm/shared"
t chmod 2777 "$P/tm/shared"
same "creat in a set-group-ID directory" ok pe u1 'open($f, ">", $ARGV[0])' "$P/tm/shared/f"
same "  takes the caller's gid (sopfs: DESIGN says the creating caller's; Linux disks take the directory's)" \
    "$U1 $U1" st '%u %g' "$P/tm/shared/f"
t sh -c "printf 'still here' > '$P/tm/open'"
t chmod 0666 "$P/tm/open"
same "an unlinked file stays readable through an open descriptor" "still here" \
    pe u1 'open($f, "<", $ARGV[0]) and unlink($ARGV[0]) and scalar(<$f>)' "$P/tm/open"
t sh -c "printf 'still here' > '$P/tm/open'"
t chmod 0666 "$P/tm/open"
same "an unlinked file is writable and reads back through its descriptor" "WRITE here" \
    pe u1 'open($f, "+<", $ARGV[0]) and unlink($ARGV[0]) and syswrite($f, "WRITE") and sysseek($f, 0, 0) and sysread($f, $b, 100) and $b' "$P/tm/open"
same "  and is gone by name" ENOENT gone u1 "$P/tm/open"
t sh -c "printf 'still here' > '$P/tm/open'"
t chmod 0666 "$P/tm/open"
same "fstat of an open unlinked file: its size and st_nlink 0" "size 10 nlink 0" \
    pe u1 'open($f, "<", $ARGV[0]) and unlink($ARGV[0]) and (@s = stat($f)) and "size $s[7] nlink $s[3]"' "$P/tm/open"
t touch -d @1000000000 "$P/tm" # the last change in it: utimes persists (verify)

# ------------------------------------------------------------------ mkdir, rmdir, unlink
same "mkdir as U1 with mode 0777, umask 022" ok pe u1 'mkdir($ARGV[0], 0777)' "$P/d1"
same "  mode 0755, U1's uid and gid" "755 $U1 $U1 directory" st '%a %u %g %F' "$P/d1"
same "mkdir with umask 0 and mode 0711" ok pe u1 'umask(0); mkdir($ARGV[0], 0711)' "$P/d2"
same "  mode 0711" 711 st %a "$P/d2"
same "mkdir of an existing directory: EEXIST" EEXIST pe u1 'mkdir($ARGV[0])' "$P/d1"
same "mkdir over a file: EEXIST" EEXIST pe u1 'mkdir($ARGV[0])' "$P/c1"
same "mkdir over a symlink: EEXIST" EEXIST pe u1 'mkdir($ARGV[0])' "$P/c1link"
same "mkdir in a missing directory: ENOENT" ENOENT pe u1 'mkdir($ARGV[0])' "$P/nodir/d"
same "mkdir below a file: ENOTDIR" ENOTDIR pe u1 'mkdir($ARGV[0])' "$P/c1/d"
pe u1 'open($f, ">", $ARGV[0])' "$P/d1/f" >/dev/null
same "rmdir of a non-empty directory: ENOTEMPTY" ENOTEMPTY pe u1 'rmdir($ARGV[0])' "$P/d1"
same "rmdir of a file: ENOTDIR" ENOTDIR pe u1 'rmdir($ARGV[0])' "$P/d1/f"
same "rmdir of a missing directory: ENOENT" ENOENT pe u1 'rmdir($ARGV[0])' "$P/d9"
same "rmdir of '.': EINVAL" EINVAL pe u1 'rmdir($ARGV[0])' "$P/d2/."
same "unlink of a directory: EISDIR (Linux; POSIX says EPERM)" EISDIR pe u1 'unlink($ARGV[0])' "$P/d2"
same "unlink of a missing file: ENOENT" ENOENT pe u1 'unlink($ARGV[0])' "$P/d1/missing"
same "unlink of a file" ok pe u1 'unlink($ARGV[0])' "$P/d1/f"
same "  the file is gone" ENOENT pe u1 'stat($ARGV[0])' "$P/d1/f"
same "rmdir of the emptied directory" ok pe u1 'rmdir($ARGV[0])' "$P/d1"
same "  the directory is gone" ENOENT pe u1 'stat($ARGV[0])' "$P/d1"
same "st_nlink of an empty directory: 2" 2 st %h "$P/d2"
t mkdir "$P/nl" "$P/nl/a" "$P/nl/b" "$P/nl/c"
t touch "$P/nl/file"
same "  of one with three subdirectories and a file: 5" 5 st %h "$P/nl"
t rmdir "$P/nl/c"
same "  after an rmdir: 4" 4 st %h "$P/nl"
t mkdir "$P/nl2"
t mv "$P/nl/b" "$P/nl2/b"
same "  a subdirectory moved out and in: 3 and 3" "3 3" sh -c "stat -c %h '$P/nl' '$P/nl2' | paste -sd' '"
t mv "$P/nl/a" "$P/nl2/b"
same "  one moved over an empty one: 2 and 3" "2 3" sh -c "stat -c %h '$P/nl' '$P/nl2' | paste -sd' '"

# directory times: each change of an entry moves its directory's mtime and
# ctime (both directories' for a rename)
t mkdir "$P/dt" "$P/dt2"
t touch "$P/dt/f"
for op in "touch '$P/dt/g'" "mkdir '$P/dt/sub'" "rm '$P/dt/g'" "rmdir '$P/dt/sub'" \
    "mv '$P/dt/f' '$P/dt/f2'" "mv '$P/dt/f2' '$P/dt2/f'"; do
    t touch -d @1000000000 "$P/dt" "$P/dt2"
    t sh -c "$op"
    same "$op moves the directory's mtime and ctime" ok \
        sh -c "set -- \$(stat -c '%Y %Z' '$P/dt'); [ \$1 -gt 1000000000 ] && [ \$2 -ge \$1 ] && echo ok || echo \$*"
done
same "  and a rename moves the target directory's too" ok \
    sh -c "[ \$(stat -c %Y '$P/dt2') -gt 1000000000 ] && echo ok"

# ------------------------------------------------------------------ rename
t mkdir "$P/r"
t sh -c "echo one > '$P/r/f1'; echo two > '$P/r/f2'"
t chmod 0600 "$P/r/f1"
same "rename a file over a file" ok pe root 'rename($ARGV[0], $ARGV[1])' "$P/r/f1" "$P/r/f2"
same "  the target has the source's content" one t cat "$P/r/f2"
same "  and mode" 600 st %a "$P/r/f2"
same "  the source is gone" ENOENT gone root "$P/r/f1"
t mkdir -p "$P/r/da/sub" "$P/r/db" "$P/r/dc"
t sh -c "echo deep > '$P/r/da/sub/x'; echo c > '$P/r/dc/y'"
same "rename a directory over an empty directory" ok pe root 'rename($ARGV[0], $ARGV[1])' "$P/r/da" "$P/r/db"
same "  its subtree moved" deep t cat "$P/r/db/sub/x"
same "rename a directory over a non-empty directory: ENOTEMPTY" ENOTEMPTY pe root 'rename($ARGV[0], $ARGV[1])' "$P/r/db" "$P/r/dc"
same "rename a file over a directory: EISDIR" EISDIR pe root 'rename($ARGV[0], $ARGV[1])' "$P/r/f2" "$P/r/dc"
same "rename a directory over a file: ENOTDIR" ENOTDIR pe root 'rename($ARGV[0], $ARGV[1])' "$P/r/dc" "$P/r/f2"
same "rename a directory into its own subdirectory: EINVAL" EINVAL pe root 'rename($ARGV[0], $ARGV[1])' "$P/r/db" "$P/r/db/sub/in"
same "rename of a missing file: ENOENT" ENOENT pe root 'rename($ARGV[0], $ARGV[1])' "$P/r/none" "$P/r/none2"
same "rename into a missing directory: ENOENT" ENOENT pe root 'rename($ARGV[0], $ARGV[1])' "$P/r/f2" "$P/r/nodir/f2"
same "rename a file to its own name" ok pe root 'rename($ARGV[0], $ARGV[1])' "$P/r/f2" "$P/r/f2"
same "  it is still there" one t cat "$P/r/f2"
t chown "$U1:$U1" "$P/r/f2"
t touch -d '2003-03-03 03:03:03.5 UTC' "$P/r/f2"
t mkdir "$MNT/q"
same "rename a file across stores" ok pe root 'rename($ARGV[0], $ARGV[1])' "$P/r/f2" "$MNT/q/f2"
same "  mode, owner, mtime and content move with it" "600 $U1 $U1 1046660583.500000000 one" \
    sh -c "stat -c '%a %u %g %.9Y' '$MNT/q/f2' | tr '\n' ' '; timeout 60 cat '$MNT/q/f2'"
same "a store into a store: EXDEV (sopfs: stores live at the root only)" EXDEV pe root 'rename($ARGV[0], $ARGV[1])' "$MNT/q" "$P/r/q"

# ------------------------------------------------------------------ link
same "st_nlink of a file is 1" 1 st %h "$P/c1"
t sh -c "printf 'one file' > '$P/hl1' && chmod 666 '$P/hl1'"
same "link as U1" ok pe u1 'link($ARGV[0], $ARGV[1])' "$P/hl1" "$P/hl2"
same "  both names: one inode, st_nlink 2" "2 same" \
    sh -c "set -- \$(stat -c '%h %i' '$P/hl1' '$P/hl2'); [ \$2 = \$4 ] && echo \$1 same"
same "a third name in a subdirectory" ok pe u1 'mkdir($ARGV[2]) and link($ARGV[0], $ARGV[1])' "$P/hl2" "$P/hld/hl3" "$P/hld"
same "  st_nlink 3 through every name" "3 3 3" sh -c "stat -c %h '$P/hl1' '$P/hl2' '$P/hld/hl3' | paste -sd' '"
t sh -c "printf ' changed' >> '$P/hld/hl3'"
same "  a write through one name reads through the others" "one file changed" t cat "$P/hl1"
t chmod 640 "$P/hl2"
same "  a chmod through one name shows through the others" 640 st %a "$P/hld/hl3"
same "link over an existing name: EEXIST" EEXIST pe root 'link($ARGV[0], $ARGV[1])' "$P/hl1" "$P/c1"
same "link of a directory: EPERM" EPERM pe root 'link($ARGV[0], $ARGV[1])' "$P/d2" "$P/d2link"
t mkdir -p "$MNT/q"
same "link into another store: EXDEV (sopfs: a file's names stay in its store)" EXDEV \
    pe root 'link($ARGV[0], $ARGV[1])' "$P/hl1" "$MNT/q/hl"
same "rename of one name onto another of the same file: nothing happens" "ok 3" \
    sh -c "$(as root) perl -e 'rename(\$ARGV[0], \$ARGV[1]) and print \"ok \"' '$P/hl1' '$P/hl2'; stat -c %h '$P/hl1'"
same "unlink of one name: the others stay, st_nlink 2" "2 one file changed" \
    sh -c "rm '$P/hl1' && stat -c %h '$P/hl2' | tr '\n' ' ' && cat '$P/hld/hl3'"
same "rename of a name: st_nlink stays" 2 sh -c "mv '$P/hl2' '$P/hl4' && stat -c %h '$P/hld/hl3'"
same "rename of a name into another store: EXDEV" EXDEV pe root 'rename($ARGV[0], $ARGV[1])' "$P/hl4" "$MNT/q/hl4"
t mkfifo "$P/hfifo"
t ln -s target "$P/hsym"
same "links of a FIFO and a symbolic link" "fifo 2 symbolic link 2" \
    sh -c "ln '$P/hfifo' '$P/hfifo2' && ln -P '$P/hsym' '$P/hsym2' && stat -c '%F %h' '$P/hfifo2' '$P/hsym2' | paste -sd' '"
same "  the link of a symlink is one (readlink)" target t readlink "$P/hsym2"

# ------------------------------------------------------------------ symlink
same "symlink as U1" ok pe u1 'symlink("c3", $ARGV[0])' "$P/sl"
same "  a link owned by U1, mode 0777, size = target length" "symbolic link $U1 $U1 777 2" st '%F %u %g %a %s' "$P/sl"
same "readlink" c3 t readlink "$P/sl"
same "open follows it" ok pe u1 'open($f, "<", $ARGV[0])' "$P/sl"
same "a dangling symlink: ENOENT on open" ENOENT pe u1 'open($f, "<", $ARGV[0])' "$P/dangle"
same "symlink over an existing name: EEXIST" EEXIST pe u1 'symlink("x", $ARGV[0])' "$P/c1"
same "readlink of a file: EINVAL" EINVAL pe u1 'defined(readlink($ARGV[0]))' "$P/c1"
t ln -s loop2 "$P/loop1"
t ln -s loop1 "$P/loop2"
same "a symlink loop: ELOOP" ELOOP pe u1 'open($f, "<", $ARGV[0])' "$P/loop1"
TGT=$(printf 't%.0s' $(seq 1 1000))
same "a 1000-byte target" ok pe u1 'symlink($ARGV[1], $ARGV[0])' "$P/longlink" "$TGT"
same "  reads back" "$TGT" t readlink "$P/longlink"
same "unlink of a symlink" ok pe u1 'unlink($ARGV[0])' "$P/c1link"
same "  removes the link" ENOENT gone u1 "$P/c1link"
same "  not its target" abcdef t cat "$P/c1"

# ------------------------------------------------------------------ truncate
t sh -c "printf hello > '$P/tr'"
t chown "$U1:$U1" "$P/tr"
mtime0=$(st %.9Y "$P/tr")
same "truncate grows a file" ok pe u1 'truncate($ARGV[0], 100000)' "$P/tr"
same "  size" 100000 st %s "$P/tr"
same "  the old bytes stay" hello t head -c 5 "$P/tr"
same "  the new bytes read as zeros" "99995 0" \
    sh -c "echo \$(timeout 60 tail -c +6 '$P/tr' | wc -c) \$(timeout 60 tail -c +6 '$P/tr' | tr -d '\\000' | wc -c)"
check "  mtime moved" test "$(st %.9Y "$P/tr")" != "$mtime0"
same "truncate shrinks it" ok pe u1 'truncate($ARGV[0], 3)' "$P/tr"
same "  content" hel t cat "$P/tr"
same "ftruncate grows through a descriptor" ok pe u1 'open($f, "+<", $ARGV[0]) and truncate($f, 10) and close($f)' "$P/tr"
same "  size" 10 st %s "$P/tr"
same "ftruncate shrinks through a descriptor" ok pe u1 'open($f, "+<", $ARGV[0]) and truncate($f, 2) and close($f)' "$P/tr"
same "  content" he t cat "$P/tr"
same "truncate without write permission: EACCES" EACCES pe u2 'truncate($ARGV[0], 0)' "$P/tr"
same "ftruncate of a read-only descriptor: EINVAL" EINVAL pe u1 'open($f, "<", $ARGV[0]) and truncate($f, 0)' "$P/tr"
same "truncate of a directory: EISDIR" EISDIR pe root 'truncate($ARGV[0], 0)' "$P/adir"
same "truncate to a negative size: EINVAL" EINVAL pe u1 'truncate($ARGV[0], -1)' "$P/tr"
same "truncate of a missing file: ENOENT" ENOENT pe u1 'truncate($ARGV[0], 0)' "$P/missing"
same "  the file is unchanged by the failures" he t cat "$P/tr"

# ------------------------------------------------------------------ utimensat
if perl -e 'require "syscall.ph"; &SYS_utimensat' >/dev/null 2>&1; then
    t sh -c "printf u > '$P/ut'"
    t chown "$U1:$U1" "$P/ut"
    t chmod 0666 "$P/ut"
    same "utimensat explicit times by the owner" ok pe u1 'u($ARGV[0], "1000000000.123456789", "1100000000.987654321")' "$P/ut"
    same "  atime and mtime to the nanosecond" "1000000000.123456789 1100000000.987654321" st '%.9X %.9Y' "$P/ut"
    same "UTIME_OMIT for atime, explicit mtime" ok pe u1 'u($ARGV[0], "OMIT", "1200000000.5")' "$P/ut"
    same "  atime unchanged" "1000000000.123456789 1200000000.500000000" st '%.9X %.9Y' "$P/ut"
    before=$(date +%s)
    same "UTIME_NOW for mtime, UTIME_OMIT for atime" ok pe u1 'u($ARGV[0], "OMIT", "NOW")' "$P/ut"
    same "  atime unchanged, mtime now" "1000000000 ok" \
        sh -c "m=\$(stat -c %Y '$P/ut'); echo \$(stat -c %X '$P/ut') \$([ \$m -ge $before ] && [ \$m -le \$(date +%s) ] && echo ok || echo \$m)"
    t touch -d @1000000000 "$P/ut"
    same "UTIME_NOW (both) by another user with write access" ok pe u2 'u($ARGV[0], "NOW", "NOW")' "$P/ut"
    check "  mtime moved to now" test "$(st %Y "$P/ut")" -ge "$before"
    same "utimes(NULL) by another user with write access" ok pe u2 'utime(undef, undef, $ARGV[0])' "$P/ut"
    same "explicit times by another user with write access: EPERM" EPERM pe u2 'u($ARGV[0], "5.0", "5.0")' "$P/ut"
    t chmod 0644 "$P/ut"
    same "UTIME_NOW by another user without write access: EACCES" EACCES pe u2 'u($ARGV[0], "NOW", "NOW")' "$P/ut"
    same "utimes(NULL) by another user without write access: EACCES" EACCES pe u2 'utime(undef, undef, $ARGV[0])' "$P/ut"
    t chmod 0444 "$P/ut"
    same "UTIME_NOW by the owner without write access (mode 0444)" ok pe u1 'u($ARGV[0], "NOW", "NOW")' "$P/ut"
    same "explicit times by root on anyone's file" ok pe root 'u($ARGV[0], "1300000000.25", "1400000000.75")' "$P/ut"
    same "  set" "1300000000.250000000 1400000000.750000000" st '%.9X %.9Y' "$P/ut"
    same "utimensat of a missing file: ENOENT" ENOENT pe root 'u($ARGV[0], "NOW", "NOW")' "$P/missing"
    HAVE_UT=1
else
    skip "utimensat cases" "perl has no syscall.ph (h2ph) for utimensat"
    HAVE_UT=0
fi

# ------------------------------------------------------------------ after a remount
verify() {
    w=$1
    same "$w: created files: mode, uid, gid" "644 $U1 $U1|700 $U2 $U2|640 $U1 $U1|600 $U1 $U1" \
        sh -c "for f in c1 c2 c3 c4; do stat -c '%a %u %g' '$P/'\$f; done | paste -sd'|'"
    same "$w: the mode-0 file" "0 $U1 zero" sh -c "stat -c '%a %u' '$P/mode0' | tr '\n' ' '; timeout 60 cat '$P/mode0'"
    same "$w: O_APPEND content" abcdef t cat "$P/c1"
    same "$w: chown by root" "640 $U2 $U2" st '%a %u %g' "$P/own"
    same "$w: chown cleared set-user-ID" "755 $U1 $U1" st '%a %u %g' "$P/suid"
    same "$w: set-group-ID directory" 2775 st %a "$P/sgid"
    same "$w: directory modes" "666 555 333 711" sh -c "stat -c %a '$P/locked' '$P/ro' '$P/wonly' '$P/noread' | paste -sd' '"
    same "$w: search is still refused" EACCES pe u2 'stat($ARGV[0])' "$P/locked/f"
    same "$w: sticky directory" "1777 $U2" st '%a %u' "$P/tmp"
    same "$w: sticky still refuses another user's unlink" EPERM pe u1 'unlink($ARGV[0])' "$P/tmp/byu2"
    same "$w: mkdir'd directory" "711 $U1 $U1" st '%a %u %g' "$P/d2"
    same "$w: special files" "fifo 640 $U1,character special file 1 3,block special file 7 2" \
        sh -c "{ stat -c '%F %a %u' '$P/fifo2'; stat -c '%F %Hr %Lr' '$P/chr' '$P/blk'; } | paste -sd,"
    same "$w: directory links" "2 3" sh -c "stat -c %h '$P/nl' '$P/nl2' | paste -sd' '"
    same "$w: hard links: st_nlink and content" "2 2 one file changed" \
        sh -c "stat -c %h '$P/hl4' '$P/hld/hl3' | paste -sd' ' | tr '\n' ' '; cat '$P/hl4'"
    same "$w: one inode" same sh -c "[ \$(stat -c %i '$P/hl4') = \$(stat -c %i '$P/hld/hl3') ] && echo same"
    same "$w: the deep tree" "at the bottom 2 2" t python3 -c "$DEEP" "$P" read
    for f in d1 r/f1 r/da c1link hard sock fifo hl1 hl2; do
        same "$w: removed $f stays removed" ENOENT gone root "$P/$f"
    done
    same "$w: renamed subtree" deep t cat "$P/r/db/sub/x"
    same "$w: moved across stores" "600 $U1 $U1 1046660583.500000000 one" \
        sh -c "stat -c '%a %u %g %.9Y' '$MNT/q/f2' | tr '\n' ' '; timeout 60 cat '$MNT/q/f2'"
    same "$w: symlink" "$U1 c3" sh -c "stat -c %u '$P/sl' | tr '\n' ' '; readlink '$P/sl'"
    same "$w: long symlink" "$TGT" t readlink "$P/longlink"
    same "$w: truncated file" "2 he" sh -c "stat -c %s '$P/tr' | tr '\n' ' '; timeout 60 cat '$P/tr'"
    if [ "$HAVE_UT" = 1 ]; then
        same "$w: times" "1300000000.250000000 1400000000.750000000" st '%.9X %.9Y' "$P/ut"
    fi
    same "$w: 255-byte name" 0 st %s "$P/$L255"
    same "$w: set-group-ID file" "2755 $U1 $U2" st '%a %u %g' "$P/tm/g"
    same "$w: directory mtime" 1000000000 st %Y "$P/tm"
}
verify live
check "unmount and mount again" remount_fs -o allow_other
verify remounted
check "clean unmount" umount_fs
finish
