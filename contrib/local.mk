# contrib/: bash completion and the systemd units; their tests (completion.sh,
# units.sh, service.sh) are listed in tests/local.mk.
bashcompletiondir = $(datadir)/bash-completion/completions
nodist_bashcompletion_DATA = contrib/sop contrib/sopfs
CLEANFILES += contrib/sop contrib/sopfs
EXTRA_DIST += contrib/sop.bash-completion
# one file, installed under both names bash-completion looks up
contrib/sop contrib/sopfs: contrib/sop.bash-completion
	$(MKDIR_P) contrib && cp $(srcdir)/contrib/sop.bash-completion $@

# systemd: a template service and an example mount unit (see their heads).
systemdsystemunit_DATA = contrib/sopfs@.service
CLEANFILES += contrib/sopfs@.service
EXTRA_DIST += contrib/sopfs@.service.in
contribdocdir = $(docdir)/examples
dist_contribdoc_DATA = contrib/sopfs-example.mount
contrib/sopfs@.service: contrib/sopfs@.service.in Makefile
	$(MKDIR_P) contrib && sed 's|@bindir[@]|$(bindir)|g' $(srcdir)/contrib/sopfs@.service.in >$@
