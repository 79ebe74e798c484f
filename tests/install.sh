#!/bin/sh
# install.sh - `make install` into a staging folder (DESTDIR) (TAP): every
# file lands where the configured directories say; install rebuilds and
# relinks nothing in the build folder (it runs while other tests do); a
# program built outside the tree against the staged sop.pc opens a
# database, writes a key in one transaction and reads it in another, linked
# with the shared library and, through `pkg-config --static`, with
# libsop.a alone; the staged mount helper runs the staged sopfs; `make
# uninstall` removes every file.  Run by make check (SOP_BUILDDIR is the
# build folder); the whole script is bounded by timeout.
#
# A new installed file is one more word in FILES below.
set -u
if [ -z "${SOP_INSTALL_TIMED:-}" ]; then
    SOP_INSTALL_TIMED=1
    export SOP_INSTALL_TIMED
    exec timeout -k 10 "${SOP_INSTALL_TIMEOUT:-300}" sh "$0" "$@"
fi
: "${SOP_BUILDDIR:=$(pwd)}"
B=$SOP_BUILDDIR
T=$(mktemp -d "${TMPDIR:-/tmp}/sop-install.XXXXXX") || exit 1
trap 'st=$?; rm -rf "$T"; exit $st' EXIT
trap 'exit 130' INT TERM
S=$T/stage
n=0
failures=0

# ok STATUS NAME [FILE]: one TAP line; on failure the end of FILE as comments
ok() {
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2"
        failures=$((failures + 1))
        [ -n "${3:-}" ] && [ -s "$3" ] && tail -n 20 "$3" | sed 's/^/# /'
    fi
}

# mk ARGS...: make in the build folder, not as part of the make that runs
# this test (its jobserver and command-line variables, such as TESTS, stay
# out)
mk() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
        timeout -k 5 120 make -C "$B" "$@"
}

dirs=$(mk -s print-install-dirs) || {
    echo "1..0 # SKIP no print-install-dirs in $B/Makefile"
    exit 0
}
eval "$dirs"

# FILES: DIRVAR/NAME, each installed file ("fuse:" first: only when sopfs
# is built)
FILES="bindir/sop fuse:bindir/sopfs fuse:sbindir/mount.fuse.sopfs
libdir/libsop.so libdir/libsop.so.0 libdir/libsop.a includedir/sop.h pkgconfigdir/sop.pc
man1dir/sop.1 man3dir/libsop.3 man8dir/sopfs.8
bashcompletiondir/sop bashcompletiondir/sopfs
systemdsystemunitdir/sopfs@.service contribdocdir/sopfs-example.mount"
fuse=0
[ -x "$B/src/sopfs" ] && fuse=1

: >"$T/stamp"
mk install DESTDIR="$S" >"$T/install.log" 2>&1
ok $? "make install DESTDIR=..." "$T/install.log"

for f in $FILES; do
    case $f in
    fuse:*)
        f=${f#fuse:}
        if [ "$fuse" = 0 ]; then
            n=$((n + 1))
            echo "ok $n - $f installed # SKIP sopfs not built (no libfuse3)"
            continue
        fi
        ;;
    esac
    var=${f%%/*}
    eval "dir=\$$var"
    path=$S$dir/${f#*/}
    [ -e "$path" ]
    ok $? "$f installed (${path#"$S"})"
done

# Only the staging folder was written: no object, library or program of the
# build folder is newer than the install (libtool would relink a program at
# install time on platforms that need it; Linux does not).
find "$B" -newer "$T/stamp" \( -name '*.o' -o -name '*.lo' -o -name '*.la' -o -name '*.a' \
    -o -name '*.so*' -o -path '*/.libs/*' -o -path "$B/tools/sop" -o -path "$B/src/sopfs" \) \
    -print >"$T/newer" 2>/dev/null
[ ! -s "$T/newer" ]
ok $? "install rebuilt and relinked nothing in the build folder" "$T/newer"

# A program of the library's users, built outside the tree.
mkdir -p "$T/app" "$T/db"
cat >"$T/app/app.c" <<'C'
#include <stdio.h>
#include <string.h>

#include <sop.h>

int main(int argc, char **argv)
{
    sop_db *db;
    sop_txn *t;
    sop_store *s;
    const void *v;
    size_t vl;
    int rc;

    if (argc != 2)
        return 2;
    if ((rc = sop_db_open(argv[1], NULL, &db)) != 0) {
        fprintf(stderr, "open: %s: %s\n", sop_strerror(rc), sop_open_errmsg());
        return 1;
    }
    if ((rc = sop_txn_begin(db, SOP_TXN_WRITE, &t)) != 0 ||
        (rc = sop_store_create(t, "users", NULL, &s)) != 0 ||
        (rc = sop_add(s, "alice", 5, "42", 2)) != 0 || (rc = sop_txn_commit(t)) != 0) {
        fprintf(stderr, "write: %s: %s\n", sop_strerror(rc), sop_db_errmsg(db));
        sop_db_close(db);
        return 1;
    }
    if ((rc = sop_txn_begin(db, SOP_TXN_READ, &t)) != 0 ||
        (rc = sop_store_open(t, "users", &s)) != 0 || (rc = sop_get(s, "alice", 5, &v, &vl)) != 0) {
        fprintf(stderr, "read: %s\n", sop_strerror(rc));
        sop_db_close(db);
        return 1;
    }
    printf("%.*s\n", (int)vl, (const char *)v);
    rc = sop_txn_commit(t);
    sop_db_close(db);
    return rc != 0;
}
C
# The staged sop.pc, its paths under the staging folder.
PC="env PKG_CONFIG_PATH=$S$pkgconfigdir PKG_CONFIG_SYSROOT_DIR=$S pkg-config"
CC=${CC:-cc}
# A library built with the sanitizers needs them in the program too.
SAN=
[ "${SOP_SANITIZED:-0}" = 1 ] && SAN="-fsanitize=address,undefined"

$PC --exists sop >"$T/pc.log" 2>&1
ok $? "pkg-config finds the staged sop.pc" "$T/pc.log"
[ "$($PC --modversion sop 2>/dev/null)" = "$(sed -n 's/^Version: *//p' "$B/engine/sop.pc")" ]
ok $? "  with the package's version"

# shellcheck disable=SC2046
(cd "$T/app" && $CC $SAN -Wall -Werror -o app app.c $($PC --cflags --libs sop)) >"$T/cc.log" 2>&1
ok $? "a program builds against the staged sop.pc (shared)" "$T/cc.log"
out=$(LD_LIBRARY_PATH=$S$libdir "$T/app/app" "$T/db/shared" 2>"$T/run.log")
[ "$out" = 42 ]
ok $? "  it writes and reads a key in transactions" "$T/run.log"
LD_LIBRARY_PATH=$S$libdir ldd "$T/app/app" 2>&1 | grep -q "libsop.so.0 => $S$libdir/"
ok $? "  with the staged libsop.so"

# -lsop as -l:libsop.a: libsop.so sits beside it, and -l would take it
static_libs=$($PC --static --libs sop 2>"$T/pcs.log" | sed 's/-lsop\( \|$\)/-l:libsop.a\1/')
(cd "$T/app" && $CC $SAN -Wall -Werror -o app-static app.c $($PC --cflags sop) $static_libs) \
    >"$T/ccs.log" 2>&1
ok $? "the program links libsop.a with pkg-config --static ($static_libs)" "$T/ccs.log"
out=$(env -u LD_LIBRARY_PATH "$T/app/app-static" "$T/db/static" 2>"$T/runs.log")
[ "$out" = 42 ]
ok $? "  it writes and reads a key in transactions" "$T/runs.log"
! readelf -d "$T/app/app-static" 2>/dev/null | grep -q 'NEEDED.*libsop'
ok $? "  without libsop.so"

if [ "$fuse" = 1 ]; then
    h=$S$sbindir/mount.fuse.sopfs
    grep -q "^sopfs='$bindir/sopfs'$" "$h"
    ok $? "the mount helper runs $bindir/sopfs"
    sh "$h" "$T/db/x" "$T/nowhere" -f -o rw,nofail >"$T/h.log" 2>&1
    ok $? "  and takes mount(8)'s arguments (-f: mounts nothing)" "$T/h.log"
    sh "$h" "$T/db/x" >"$T/h.log" 2>&1
    [ $? -eq 1 ] && grep -q '^usage: mount.fuse.sopfs' "$T/h.log"
    ok $? "  without a mountpoint: usage, status 1" "$T/h.log"
fi

# The unit runs the sopfs of this prefix; the pages are found by man(1)
# under the installed man folder.
u=$S$systemdsystemunitdir/sopfs@.service
grep -q "^ExecStart=$bindir/sopfs " "$u"
ok $? "sopfs@.service runs $bindir/sopfs" "$u"
if command -v man >/dev/null; then
    for p in man1dir/sop.1 man3dir/libsop.3 man8dir/sopfs.8; do
        eval "dir=\$${p%%/*}"
        LC_ALL=C.UTF-8 man --warnings -E UTF-8 -l "$S$dir/${p#*/}" >/dev/null 2>"$T/man.log" &&
            [ ! -s "$T/man.log" ]
        ok $? "  installed ${p#*/} renders without warnings" "$T/man.log"
    done
fi

mk uninstall DESTDIR="$S" >"$T/uninstall.log" 2>&1
ok $? "make uninstall DESTDIR=..." "$T/uninstall.log"
find "$S" ! -type d >"$T/left"
[ ! -s "$T/left" ]
ok $? "  leaves no file" "$T/left"

echo "1..$n"
[ "$failures" -eq 0 ]
