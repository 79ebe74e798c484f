# man/: the manual pages (mdoc), and their test (man/check.sh).
dist_man_MANS = man/sop.1 man/libsop.3 man/sopfs.8
TESTS += man/check.sh
dist_check_SCRIPTS += man/check.sh
