#!/bin/sh
# bench.sh - build with optimisation and run every benchmark in bench/.
# Each prints its figures as ratios against a baseline measured in the
# same run, and a "BENCH {...}" JSON line.
set -eu
cd "$(dirname "$0")/.."
. ./scripts/build-bench.sh
for b in build-bench/bench/bench-*; do
	[ -f "$b" ] && [ -x "$b" ] || continue
	echo "== $(basename "$b")"
	"$b" | sed -n 's/^# //p; /^BENCH /p'
done

# the fault campaign doubles as a recovery benchmark (docs/faults.md)
echo "== fault-campaign (1000 faults)"
UDK_FAULTS=1000 UDK_FAULT_REPORT="$PWD/build-bench/faults.json" build-bench/tests/fault-campaign |
	sed -n 's/^# campaign: /campaign: /p'
echo "BENCH $(cat build-bench/faults.json)"

# benchmarks on real devices in the guest rig (bench/guest/, docs/guest-rig.md)
echo "== guest benchmarks (bench/guest)"
UDK_GUEST_TESTS=bench/guest ./scripts/guest.sh --build build-bench |
	sed -n 's/^ *# bench: /bench: /p; s/^ *\(BENCH .*\)/\1/p'
