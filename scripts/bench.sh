#!/bin/sh
# bench.sh - build with optimisation and run every benchmark in bench/.
# Each prints its figures as ratios against a baseline measured in the
# same run, and a "BENCH {...}" JSON line.
#
#   ./scripts/bench.sh                  every benchmark, the fault campaign
#                                       (1000 faults) and the guest rig's
#   ./scripts/bench.sh userclient capture   only those (bench/bench-NAME)
#
# All the figures go into one JSON file, build-bench/bench.json (or
# $UDK_BENCH_JSON), with the machine they were taken on; then
# bench/check.py compares its ratios to the committed baseline
# bench/baseline.json and the script exits with its status (1: a ratio
# regressed beyond the stated tolerance).  See docs/performance.md.
set -eu
cd "$(dirname "$0")/.."
. ./scripts/build-bench.sh
json="${UDK_BENCH_JSON:-$PWD/build-bench/bench.json}"
lines="$PWD/build-bench/bench.lines"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
: >"$lines"

for b in build-bench/bench/bench-*; do
	[ -f "$b" ] && [ -x "$b" ] || continue
	name="$(basename "$b" | sed 's/^bench-//')"
	if [ $# -gt 0 ]; then
		case " $* " in *" $name "*) ;; *) continue ;; esac
	fi
	echo "== bench-$name"
	"$b" | sed -n 's/^# //p; /^BENCH /p; /^not ok/p' | tee -a "$lines"
done

if [ $# -eq 0 ]; then
	# the fault campaign doubles as a recovery benchmark (docs/faults.md)
	echo "== fault-campaign (1000 faults)"
	rm -f build-bench/bench-faults.json
	UDK_FAULTS=1000 UDK_FAULT_REPORT="$PWD/build-bench/bench-faults.json" build-bench/tests/fault-campaign |
		sed -n 's/^# campaign: /campaign: /p'
	if [ -f build-bench/bench-faults.json ]; then
		echo "BENCH {\"bench\": \"faults\", $(sed 's/^{//' build-bench/bench-faults.json)" | tee -a "$lines"
	fi

	# benchmarks on real devices in the guest rig (bench/guest/, docs/guest-rig.md)
	echo "== guest benchmarks (bench/guest)"
	UDK_GUEST_TESTS=bench/guest ./scripts/guest.sh --build build-bench |
		sed -n 's/^ *# bench: /bench: /p; s/^ *\(BENCH .*\)/\1/p' | tee -a "$lines" || true
fi

python3 - "$lines" "$json" "$load_before" <<'PY'
import json, os, platform, subprocess, sys, time
lines, out, load_before = sys.argv[1:4]
benches = {}
for line in open(lines, encoding="utf-8"):
    if not line.startswith("BENCH "):
        continue
    d = json.loads(line[6:])
    name = d.pop("bench", "unnamed")
    key, k = name, 2
    while key in benches:
        key, k = f"{name}-{k}", k + 1
    benches[key] = d
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((int(l.split()[1]) // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
try:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
except OSError:
    commit = "?"
doc = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": commit,
       "machine": {"cpus": os.cpu_count(), "model": model, "memory_mib": mem, "kernel": platform.release(),
                   "load_before": load_before, "load_after": " ".join(open("/proc/loadavg").read().split()[:3])},
       "benches": benches}
with open(out, "w", encoding="utf-8") as f:
    json.dump(doc, f, indent=1)
    f.write("\n")
print(f"bench.sh: {len(benches)} benchmark records in {out}")
PY
if [ $# -gt 0 ]; then
	bench/check.py --only "$(echo "$*" | tr ' ' ',')" bench/baseline.json "$json"
else
	bench/check.py bench/baseline.json "$json"
fi
