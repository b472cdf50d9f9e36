#!/bin/sh
# faults.sh - the long fault-injection campaign (tests/faults/campaign.c).
#
#   ./scripts/faults.sh              100000 faults, a random seed
#   ./scripts/faults.sh 5000 42      5000 faults, seed 42 (reproducible)
#
# Prints the counts (injected, survived, recovery median and p99) and
# writes them as JSON to build-bench/faults.json, every 500 faults as it
# goes ("complete": false) and at the end ("complete": true), so a run
# that is stopped still leaves its figures.  The time allowed grows with
# the count.  CI runs 2000 faults as part of the test suite.
set -eu
cd "$(dirname "$0")/.."
. ./scripts/build-bench.sh
export UDK_FAULTS="${1:-100000}"
[ $# -ge 2 ] && export UDK_FAULT_SEED="$2"
export UDK_FAULT_REPORT="$PWD/build-bench/faults.json"
rm -f "$UDK_FAULT_REPORT"
# the campaign's own status, through the filter (sh has no pipefail)
{
	status=0
	build-bench/tests/fault-campaign || status=$?
	echo "$status" >build-bench/faults.status
} | sed -n 's/^# //p; /^not ok/p'
echo "report: $UDK_FAULT_REPORT"
if [ -f "$UDK_FAULT_REPORT" ]; then cat "$UDK_FAULT_REPORT"; fi
exit "$(cat build-bench/faults.status)"
