# The cookbook scenarios in C, each a cmocka program run by make check.
