#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""faults-merge.py - one report of the fault campaigns scripts/faults.sh
runs side by side.

    faults-merge.py OUT.json JOBS PREFIX

reads PREFIX-K.json (a campaign's report, tests/faults/campaign.c) and
PREFIX-K.samples (its recovery times in microseconds, one a line) for K in
0..JOBS-1 and writes OUT.json: the counts summed, the recovery median and
p99 computed from every sample (not averaged), "complete" only when every
campaign's report says so, "seconds" the longest campaign's, and each
campaign's own seed, count and state under "campaigns".  A campaign that
has not written its first report yet counts as incomplete with nothing
injected.  The file is replaced atomically.
"""
import json
import os
import sys

SUMMED = ("requested", "injected", "survived", "violations", "calls_ok", "calls_failed_named",
          "bytes_verified", "disabled_restarts")


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def samples(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [int(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return []


def percentile(sorted_us, num, den):
    """the same index as the campaign's own report: n * num / den"""
    if not sorted_us:
        return 0.0
    return sorted_us[len(sorted_us) * num // den] / 1000.0


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    out, jobs, prefix = argv[1], int(argv[2]), argv[3]
    merged = {key: 0 for key in SUMMED}
    merged.update({"complete": True, "seconds": 0.0, "by_fault": {}, "campaigns": []})
    recovery = []
    for k in range(jobs):
        rep = load(f"{prefix}-{k}.json")
        if rep is None:
            merged["complete"] = False
            merged["campaigns"].append({"index": k, "reported": False})
            continue
        for key in SUMMED:
            merged[key] += rep.get(key, 0)
        merged["complete"] = merged["complete"] and bool(rep.get("complete"))
        merged["seconds"] = max(merged["seconds"], rep.get("seconds", 0.0))
        for name, (inj, surv) in rep.get("by_fault", {}).items():
            have = merged["by_fault"].setdefault(name, [0, 0])
            have[0] += inj
            have[1] += surv
        if "first_violation" in rep and "first_violation" not in merged:
            merged["first_violation"] = f"campaign {k} (seed {rep.get('seed')}): {rep['first_violation']}"
        merged["campaigns"].append({"index": k, "seed": rep.get("seed"), "requested": rep.get("requested"),
                                    "injected": rep.get("injected"), "complete": rep.get("complete"),
                                    "violations": rep.get("violations"), "seconds": rep.get("seconds")})
        recovery += samples(f"{prefix}-{k}.samples")
    recovery.sort()
    merged["recovery_samples"] = len(recovery)
    merged["recovery_median_ms"] = percentile(recovery, 1, 2)
    merged["recovery_p99_ms"] = percentile(recovery, 99, 100)
    tmp = out + ".part"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(merged, f)
        f.write("\n")
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
