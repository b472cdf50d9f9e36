#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/check.py - fail when a benchmark ratio regresses against a baseline.

    bench/check.py [--only BENCH,...] BASELINE.json CURRENT.json

CURRENT is what scripts/bench.sh writes (build-bench/bench.json):
{"machine": {...}, "benches": {"userclient": {...}, "capture": {...}, ...}}.

BASELINE is a bench JSON with two more members: "tolerance", the fraction
a ratio may move the wrong way before it counts as a regression, and
"checks", the tracked ratios as "bench.key": "lower" or "higher" (which
way is better), or "bench.key": {"better": "lower", "tolerance": 0.5} to
give one ratio its own tolerance.  Only ratios measured against a baseline
in the same run are tracked, never absolute times: a slower machine moves
both sides of a ratio.

A ratio that is worse than the baseline by more than the tolerance, or
missing from CURRENT, is a regression.  --only restricts the check to the
ratios of the benchmarks named (for a run of some of them).  Exit status: 0 none, 1 a
regression, 2 the files could not be read.
"""
import json
import sys


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print(f"bench/check.py: cannot read {path}: {e}", file=sys.stderr)
        sys.exit(2)


def value(doc, name):
    bench, _, key = name.partition(".")
    v = doc.get("benches", {}).get(bench, {}).get(key)
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def main(argv):
    only = None
    if len(argv) > 2 and argv[1] == "--only":
        only = set(argv[2].split(","))
        argv = argv[:1] + argv[3:]
    if len(argv) != 3:
        print("usage: " + __doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    base, cur = load(argv[1]), load(argv[2])
    default_tol = base.get("tolerance")
    checks = base.get("checks")
    if not isinstance(default_tol, (int, float)) or not isinstance(checks, dict) or not checks:
        print(f"bench/check.py: {argv[1]} has no \"tolerance\" or no \"checks\": it is not a baseline",
              file=sys.stderr)
        return 2
    if only is not None:
        checks = {k: v for k, v in checks.items() if k.partition(".")[0] in only}
        if not checks:
            print(f"bench/check.py: {argv[1]} tracks no ratio of {', '.join(sorted(only))}", file=sys.stderr)
            return 2
    bad = 0
    print(f"{'ratio':40} {'better':>6} {'baseline':>9} {'now':>9} {'change':>8}  verdict")
    for name, spec in checks.items():
        if isinstance(spec, str):
            spec = {"better": spec}
        better, tol = spec.get("better"), spec.get("tolerance", default_tol)
        if better not in ("lower", "higher"):
            print(f"bench/check.py: {name}: \"better\" must be \"lower\" or \"higher\"", file=sys.stderr)
            return 2
        b, c = value(base, name), value(cur, name)
        if b is None or b <= 0:
            print(f"bench/check.py: the baseline has no positive figure for {name}", file=sys.stderr)
            return 2
        if c is None:
            print(f"{name:40} {better:>6} {b:9.3f} {'-':>9} {'':>8}  REGRESSED: not measured")
            bad += 1
            continue
        change = c / b - 1
        worse = change > tol if better == "lower" else change < -tol
        verdict = f"REGRESSED beyond {tol:.0%}" if worse else "ok"
        print(f"{name:40} {better:>6} {b:9.3f} {c:9.3f} {change:+8.1%}  {verdict}")
        bad += worse
    if bad:
        print(f"{bad} of {len(checks)} ratios regressed (tolerance {default_tol:.0%} unless stated)")
        return 1
    print(f"all {len(checks)} ratios within tolerance (tolerance {default_tol:.0%} unless stated)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
