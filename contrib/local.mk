# contrib/: bash completion (and its test, contrib/completion.sh).
bashcompletiondir = $(datadir)/bash-completion/completions
nodist_bashcompletion_DATA = contrib/sop contrib/sopfs
CLEANFILES += contrib/sop contrib/sopfs
EXTRA_DIST += contrib/sop.bash-completion
# one file, installed under both names bash-completion looks up
contrib/sop contrib/sopfs: contrib/sop.bash-completion
	$(MKDIR_P) contrib && cp $(srcdir)/contrib/sop.bash-completion $@
TESTS += contrib/completion.sh
dist_check_SCRIPTS += contrib/completion.sh
TESTS += contrib/service.sh
dist_check_SCRIPTS += contrib/service.sh
