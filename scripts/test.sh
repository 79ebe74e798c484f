#!/bin/sh
# The whole test suite: install what is missing, build with -Werror and
# ASan/UBSan, run `make check`, and end with the totals of test cases on one
# line: "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
./scripts/install-deps.sh || exit 1
[ -f Makefile ] && make distclean >/dev/null 2>&1
autoreconf -fi >/dev/null 2>&1 || { echo "autoreconf failed"; exit 1; }
./configure -q --enable-werror --enable-sanitizers || { echo "configure failed"; exit 1; }
make -j"$(nproc)" || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
make -j"$(nproc)" check-layers || { echo "layering rules broken"; echo "0 passed, 1 failed"; exit 1; }
timeout 1700 make -j"$(nproc)" check >/tmp/sop-check.$$ 2>&1
rc=$?
cat /tmp/sop-check.$$
rm -f /tmp/sop-check.$$
# per test case results, from the TAP driver's .trs files
pass=$(cat $(find tests -name '*.trs') /dev/null | grep -c '^:test-result: \(PASS\|XFAIL\|SKIP\)')
fail=$(cat $(find tests -name '*.trs') /dev/null | grep -c '^:test-result: \(FAIL\|XPASS\|ERROR\)')
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
    fail=1 # the harness itself failed (a crash before any result, a timeout)
    for f in $(find tests -name '*.log' ! -name 'test-suite.log'); do :; done
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
