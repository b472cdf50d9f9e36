#!/bin/sh
# faults.sh - the long fault-injection campaign (tests/faults/campaign.c).
#
#   ./scripts/faults.sh              100000 faults, a random seed
#   ./scripts/faults.sh 5000 42      5000 faults, seed 42 (reproducible)
#   UDK_FAULT_JOBS=1 ./scripts/faults.sh 100000 42    one campaign, one udkd
#
# A campaign spends most of its time waiting (a watchdog period for a
# stopped driver, a deadline for a sleep or a slow call, a restart's
# back-off), about 0.12 s a fault on a 2-core machine whatever its load.
# So the faults are injected by UDK_FAULT_JOBS campaigns side by side
# (default 4; 1 for 2,000 faults or fewer), each with its own udkd, its
# own drivers, device model and clients, its share of the count and the
# seed SEED+k; every invariant is checked in each after every fault.
#
# Prints the counts (injected, survived, recovery median and p99) and
# writes them as JSON to build-bench/faults.json, merged over the
# campaigns by scripts/faults-merge.py (exact percentiles, from every
# recovery time), every 30 s as it goes ("complete": false) and at the end
# ("complete": true), so a run that is stopped still leaves its figures.
# Each campaign's own report and log are build-bench/faults-K.json and
# build-bench/faults-K.log.  The time allowed grows with the count.  CI
# runs 2000 faults as part of the test suite.
set -eu
cd "$(dirname "$0")/.."
. ./scripts/build-bench.sh
count="${1:-100000}"
seed="${2:-$(date +%s)}"
if [ "$count" -le 2000 ]; then jobs="${UDK_FAULT_JOBS:-1}"; else jobs="${UDK_FAULT_JOBS:-4}"; fi
report="$PWD/build-bench/faults.json"
rm -f "$report" build-bench/faults-*.json build-bench/faults-*.samples build-bench/faults-*.log

# campaign K: its share of the count, seed SEED+K, its output in its log
campaign() {
	k="$1"
	n=$((count / jobs))
	[ "$k" -lt $((count % jobs)) ] && n=$((n + 1))
	UDK_FAULTS="$n" UDK_FAULT_SEED=$((seed + k)) UDK_FAULT_REPORT="$PWD/build-bench/faults-$k.json" \
		UDK_FAULT_SAMPLES="$PWD/build-bench/faults-$k.samples" \
		exec build-bench/tests/fault-campaign >"build-bench/faults-$k.log" 2>&1
}

merge() {
	python3 scripts/faults-merge.py "$report" "$jobs" build-bench/faults 2>/dev/null || true
}

echo "# $count faults, seed $seed, $jobs campaign(s) side by side (UDK_FAULT_JOBS)"
pids=""
k=0
while [ "$k" -lt "$jobs" ]; do
	(campaign "$k") &
	pids="$pids $!"
	k=$((k + 1))
done
trap 'kill $pids 2>/dev/null; wait; merge; exit 143' INT TERM
# a merged report every 30 s while they run
i=0
while :; do
	left=0
	for p in $pids; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
	[ "$left" -eq 0 ] && break
	sleep 1 &
	wait $! || true
	i=$((i + 1))
	[ $((i % 30)) -ne 0 ] || merge
done
status=0
k=0
for p in $pids; do
	st=0
	wait "$p" || st=$?
	sed -n "s/^# /[$k] /p; s/^not ok/[$k] not ok/p" "build-bench/faults-$k.log" | tail -n 25
	[ "$st" = 0 ] || status="$st"
	k=$((k + 1))
done
merge
echo "report: $report"
if [ -f "$report" ]; then cat "$report"; fi
exit "$status"
