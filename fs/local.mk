# sopfs: the FUSE layer (fs/) and the daemon (src/).
if HAVE_FUSE
bin_PROGRAMS += src/sopfs
src_sopfs_SOURCES = src/sopfs.c \
	fs/fs.h fs/options.h fs/types.h fs/entry.h fs/attr.h fs/file.h fs/dir.h fs/statfs.h \
	fs/handle.h fs/inode.h fs/names.h fs/path.h fs/tx.h fs/scope.h fs/writer.h fs/wgroup.h \
	fs/proc.h fs/query.h fs/xattr.h fs/notify.h fs/loop.h fs/log.h fs/clock.h fs/errors.h \
	fs/fs.c fs/entry.c fs/attr.c fs/file.c fs/dir.c fs/statfs.c fs/handle.c fs/inode.c \
	fs/names.c fs/path.c fs/tx.c fs/scope.c fs/writer.c fs/wgroup.c fs/proc.c fs/query.c \
	fs/xattr.c fs/notify.c fs/loop.c fs/log.c fs/clock.c fs/errors.c
src_sopfs_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/fs $(FUSE3_CFLAGS)
src_sopfs_LDADD = engine/libsop.la $(FUSE3_LIBS) -lpthread

# Integration tests on a real mount (tests/fs/lib.sh has the helpers);
# readdir.sh lists a store of a million records (about a minute).
FS_TESTS = tests/fs/basic.sh tests/fs/tree.sh tests/fs/xattr.sh tests/fs/txn.sh \
	tests/fs/bigfile.sh tests/fs/crash.sh tests/fs/parallel.sh tests/fs/readdir.sh \
	tests/fs/search.sh tests/fs/bench.sh tests/fs/daemon.sh tests/fs/crashloop.sh \
	tests/fs/writers.sh tests/fs/fsx.sh tests/fs/enospc.sh tests/fs/damage.sh tests/fs/reclaim.sh tests/fs/errors.sh \
	tests/fs/pjdfstest.sh
TESTS += $(FS_TESTS)
check_PROGRAMS += tests/fs/mmap_read tests/fs/writers tests/fs/fsx
dist_check_SCRIPTS += $(FS_TESTS)
EXTRA_DIST += tests/fs/lib.sh tests/records.py tests/fs/pjdfstest.known
endif
