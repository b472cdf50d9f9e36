#!/bin/sh
# faults.sh - the long fault-injection campaign (tests/faults/campaign.c).
#
#   ./scripts/faults.sh              100000 faults, a random seed
#   ./scripts/faults.sh 5000 42      5000 faults, seed 42 (reproducible)
#
# Prints the counts (injected, survived, recovery median and p99) and
# writes them as JSON to build-bench/faults.json.  CI runs 2000 faults as
# part of the test suite.
set -eu
cd "$(dirname "$0")/.."
. ./scripts/build-bench.sh
export UDK_FAULTS="${1:-100000}"
[ $# -ge 2 ] && export UDK_FAULT_SEED="$2"
export UDK_FAULT_REPORT="$PWD/build-bench/faults.json"
build-bench/tests/fault-campaign | sed -n 's/^# //p; /^not ok/p'
echo "report: $UDK_FAULT_REPORT"
cat "$UDK_FAULT_REPORT"
