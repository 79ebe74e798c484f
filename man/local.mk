# man/: the manual pages (mdoc); man/check.sh, listed in tests/local.mk, tests them.
dist_man_MANS = man/sop.1 man/libsop.3 man/sopfs.8
