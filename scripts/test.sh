#!/bin/sh
# test.sh - set up and run every test udk has, the way CI does:
#
#   1. gcc, warnings as errors: unit and integration tests
#   2. the guest tests: Debian's kernel under QEMU, real VFIO (scripts/guest.sh)
#   3. clang with AddressSanitizer + UndefinedBehaviorSanitizer: the same tests
#   4. valgrind over the unit tests
#   5. libFuzzer smoke run of every fuzz target over its corpus
#
# Ends with one line "N passed, N failed".  Exit status 0 only if none failed.
#   UDK_TEST_QUICK=1 runs step 1 only (UDK_TEST_GUEST=1 adds step 2).
set -u
cd "$(dirname "$0")/.."
top=$(pwd)

./scripts/deps.sh || exit 1

results="$top/build-test-results"
rm -rf "$results"
mkdir -p "$results"
status=0

step() {
	echo
	echo "==== $*"
}

step "gcc build (-Werror)"
if [ ! -d build-gcc ]; then
	CC=gcc meson setup build-gcc --buildtype=debugoptimized -Dwerror=true >/dev/null || exit 1
fi
ninja -C build-gcc || exit 1
meson test -C build-gcc --print-errorlogs --num-processes 2 || status=1
cp build-gcc/meson-logs/testlog.json "$results/gcc.json"

if [ -z "${UDK_TEST_QUICK:-}" ] || [ -n "${UDK_TEST_GUEST:-}" ]; then
	step "guest tests: Debian's kernel under QEMU (scripts/guest.sh)"
	guest_t0=$(date +%s)
	./scripts/guest.sh --build build-gcc --json "$results/guest.json" || status=1
	echo "guest step: $(($(date +%s) - guest_t0)) s"
fi

if [ -z "${UDK_TEST_QUICK:-}" ]; then
	step "clang build with ASan + UBSan (-Werror)"
	if [ ! -d build-asan ]; then
		CC=clang meson setup build-asan --buildtype=debug -Dwerror=true \
			-Db_sanitize=address,undefined -Db_lundef=false >/dev/null || exit 1
	fi
	ninja -C build-asan || exit 1
	meson test -C build-asan --print-errorlogs --num-processes 2 --timeout-multiplier 3 || status=1
	cp build-asan/meson-logs/testlog.json "$results/asan.json"

	step "valgrind over the unit tests"
	meson test -C build-gcc --suite unit --print-errorlogs \
		--wrap='valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --quiet' \
		|| status=1
	cp build-gcc/meson-logs/testlog-valgrind.json "$results/valgrind.json"

	step "fuzz smoke (libFuzzer)"
	if [ ! -d build-fuzz ]; then
		CC=clang meson setup build-fuzz --buildtype=debug -Dfuzzing=true \
			-Db_sanitize=address,undefined -Db_lundef=false >/dev/null || exit 1
	fi
	ninja -C build-fuzz || exit 1
	meson test -C build-fuzz --suite fuzz --print-errorlogs || status=1
	cp build-fuzz/meson-logs/testlog.json "$results/fuzz.json"
fi

step "summary"
python3 "$top/scripts/summarize.py" "$results"/*.json || status=1
exit $status
