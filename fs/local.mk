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
src_sopfs_CPPFLAGS = $(SOP_CPPFLAGS) -I$(top_srcdir)/fs $(FUSE3_CFLAGS)
src_sopfs_LDADD = engine/libsop.la $(FUSE3_LIBS) -lpthread
endif

# mount(8)'s helper, $(sbindir)/mount.fuse.sopfs (src/mount.fuse.sopfs.in
# says how mount(8) finds it).  It is written at install time, with that
# install's bindir, so `make install prefix=DIR` and DESTDIR staging both
# get it right, and install writes nothing in the build folder (the install
# tests run it while other tests run).
EXTRA_DIST += src/mount.fuse.sopfs.in
if HAVE_FUSE
install-exec-local:
	$(MKDIR_P) '$(DESTDIR)$(sbindir)'
	sed -e 's|@bindir[@]|$(bindir)|g' '$(srcdir)/src/mount.fuse.sopfs.in' \
		>'$(DESTDIR)$(sbindir)/mount.fuse.sopfs.tmp'
	chmod 755 '$(DESTDIR)$(sbindir)/mount.fuse.sopfs.tmp'
	mv -f '$(DESTDIR)$(sbindir)/mount.fuse.sopfs.tmp' '$(DESTDIR)$(sbindir)/mount.fuse.sopfs'

uninstall-local:
	rm -f '$(DESTDIR)$(sbindir)/mount.fuse.sopfs'
endif
