#!/bin/sh
# faults-merge.sh - scripts/faults-merge.py, which merges the fault
# campaigns scripts/faults.sh runs side by side, on made-up reports: counts
# summed per fault, percentiles from every sample (not averaged), complete
# only when every campaign is, a violation kept with its campaign, a
# campaign yet to report counted as incomplete.  TAP.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
merge="$here/../../scripts/faults-merge.py"
d="$(mktemp -d)"
trap 'rm -rf "$d"' EXIT
n=0 failed=0
echo "1..7"
# check NAME PYTHON-EXPRESSION: true of the merged report m
check() {
	n=$((n + 1))
	if python3 -c "import json,sys; m=json.load(open('$d/out.json')); sys.exit(0 if ($2) else 1)" 2>"$d/err"; then
		echo "ok $n $1"
	else
		echo "not ok $n $1"
		sed 's/^/# /' "$d/out.json" "$d/err"
		failed=1
	fi
}
cat >"$d/f-0.json" <<'J'
{"seed": 10, "requested": 3, "complete": true, "injected": 3, "survived": 3, "violations": 0, "recovery_median_ms": 2.0, "recovery_p99_ms": 3.0, "calls_ok": 100, "calls_failed_named": 2, "bytes_verified": 1000, "disabled_restarts": 1, "seconds": 5.5, "by_fault": {"kill": [2, 2], "stop": [1, 1]}}
J
printf '1000\n2000\n3000\n' >"$d/f-0.samples"
cat >"$d/f-1.json" <<'J'
{"seed": 11, "requested": 3, "complete": true, "injected": 3, "survived": 2, "violations": 1, "recovery_median_ms": 5.0, "recovery_p99_ms": 90.0, "calls_ok": 50, "calls_failed_named": 1, "bytes_verified": 500, "disabled_restarts": 0, "seconds": 7.5, "by_fault": {"kill": [1, 1], "slow": [2, 1]}, "first_violation": "a call took too long"}
J
printf '4000\n5000\n90000\n' >"$d/f-1.samples"
python3 "$merge" "$d/out.json" 2 "$d/f"
check "counts are summed" "m['injected'] == 6 and m['survived'] == 5 and m['calls_ok'] == 150 and m['requested'] == 6"
check "per fault too" "m['by_fault'] == {'kill': [3, 3], 'stop': [1, 1], 'slow': [2, 1]}"
check "percentiles come from every sample" "m['recovery_samples'] == 6 and m['recovery_median_ms'] == 4.0 and m['recovery_p99_ms'] == 90.0"
check "the longest campaign's time; complete when all are" "m['seconds'] == 7.5 and m['complete'] is True"
check "a violation is kept with its campaign and seed" "m['violations'] == 1 and m['first_violation'].startswith('campaign 1 (seed 11): a call took')"
sed 's/"complete": true/"complete": false/' "$d/f-1.json" >"$d/x" && mv "$d/x" "$d/f-1.json"
python3 "$merge" "$d/out.json" 2 "$d/f"
check "one campaign still running: not complete" "m['complete'] is False and m['campaigns'][1]['complete'] is False"
python3 "$merge" "$d/out.json" 3 "$d/f"
check "a campaign yet to report: not complete, nothing counted for it" "m['complete'] is False and m['campaigns'][2] == {'index': 2, 'reported': False} and m['injected'] == 6"
exit $failed
