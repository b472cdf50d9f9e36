#!/bin/sh
# bench.sh - build with optimisation and run every benchmark in bench/.
# Each prints its figures as ratios against a baseline measured in the
# same run, and a "BENCH {...}" JSON line.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh
[ -d build-bench ] || meson setup build-bench --buildtype=release >/dev/null
ninja -C build-bench >/dev/null
export UDK_BUILD_ROOT="$PWD/build-bench" UDK_SOURCE_ROOT="$PWD"
for b in build-bench/bench/bench-*; do
	[ -f "$b" ] && [ -x "$b" ] || continue
	echo "== $(basename "$b")"
	"$b" | sed -n 's/^# //p; /^BENCH /p'
done
