#!/bin/sh
# The whole test suite: install what is missing, build with -Werror and
# ASan/UBSan, run `make check`, then `make distcheck` on the unit tests (one
# more test case), and end with the totals of test cases on one line:
# "N passed, N failed".
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
# per test case results, from the TAP driver's .trs files (the tests live in
# tests/, man/ and contrib/)
pass=$(cat $(find tests man contrib -name '*.trs') /dev/null | grep -c '^:test-result: \(PASS\|XFAIL\|SKIP\)')
fail=$(cat $(find tests man contrib -name '*.trs') /dev/null | grep -c '^:test-result: \(FAIL\|XPASS\|ERROR\)')
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
    fail=1 # the harness itself failed (a crash before any result, a timeout)
fi
# The tarball: `make distcheck` (a build out of the tree from the read-only
# unpacked sources, with -Werror, the unit tests, install, uninstall,
# distclean) counted as one more test case.
dc_log=/tmp/sop-distcheck.$$
if timeout 900 make -j"$(nproc)" distcheck TESTS="$(make -s print-unit-tests)" >"$dc_log" 2>&1; then
    echo "ok - make distcheck (unit tests)"
    pass=$((pass + 1))
else
    echo "not ok - make distcheck (unit tests); the end of its output:"
    tail -n 40 "$dc_log" | sed 's/^/# /'
    fail=$((fail + 1))
fi
rm -f "$dc_log" sop-*.tar.gz
for d in sop-*/; do # what a distcheck cut short by timeout leaves (read-only)
    [ -d "$d" ] && chmod -R u+w "$d" && rm -rf "$d"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
