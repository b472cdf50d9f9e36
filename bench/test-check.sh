#!/bin/sh
# test-check.sh - bench/check.py, the benchmark regression check, on sample
# files (bench/check-samples): within tolerance passes; a ratio worse than
# its tolerance, or one no longer measured, fails and is named; a file that
# is not a baseline is refused.  TAP.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
check="$here/check.py" s="$here/check-samples"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
n=0 failed=0
echo "1..6"
# expect NAME STATUS PATTERN -- ARGS: the status and a line matching PATTERN
expect() {
	name=$1 want=$2 pattern=$3
	shift 4
	n=$((n + 1))
	python3 "$check" "$@" >"$out" 2>&1
	got=$?
	if [ "$got" -eq "$want" ] && grep -q -- "$pattern" "$out"; then
		echo "ok $n $name"
	else
		echo "not ok $n $name (exit $got, wanted $want and a line matching '$pattern')"
		sed 's/^/# /' "$out"
		failed=1
	fi
}
expect "within tolerance passes" 0 "all 3 ratios within tolerance" -- "$s/baseline.json" "$s/pass.json"
expect "a ratio worse by more than 25% fails, named" 1 \
	"^userclient.unpinned_ratio_raw .*REGRESSED beyond 25%" -- "$s/baseline.json" "$s/regress.json"
expect "improvements are not regressions" 1 "1 of 3 ratios regressed" -- "$s/baseline.json" "$s/regress.json"
expect "a ratio no longer measured fails" 1 "^capture.ratio_capture .*REGRESSED: not measured" -- \
	"$s/baseline.json" "$s/missing.json"
expect "--only checks the benchmarks named" 0 "all 2 ratios within tolerance" -- --only userclient \
	"$s/baseline.json" "$s/missing.json"
expect "a file without checks is not a baseline" 2 "is not a baseline" -- "$s/pass.json" "$s/regress.json"
exit $failed
