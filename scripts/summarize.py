#!/usr/bin/env python3
"""Count test results from meson testlog.json files.

TAP tests count every "ok"/"not ok" line; other tests count once.
Skips are reported apart and never as passes.  The last line printed is
"N passed, N failed".
"""
import json
import re
import sys

passed = failed = skipped = 0
failures = []
for path in sys.argv[1:]:
    label = path.rsplit("/", 1)[-1].removesuffix(".json")
    with open(path) as f:
        for line in f:
            t = json.loads(line)
            name = t.get("name", "?")
            result = t.get("result", "?")
            out = t.get("stdout", "") or ""
            tap = [l for l in out.splitlines() if re.match(r"(not )?ok \d+", l)]
            if tap:
                for l in tap:
                    if l.startswith("not ok"):
                        failed += 1
                        failures.append(f"{label}: {name}: {l}")
                    elif "# SKIP" in l:
                        skipped += 1
                    else:
                        passed += 1
                # a crash after the last TAP line still fails the test
                if result not in ("OK", "EXPECTEDFAIL", "SKIP") and not any(
                        l.startswith("not ok") for l in tap):
                    failed += 1
                    failures.append(f"{label}: {name}: {result}")
            elif result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
                failures.append(f"{label}: {name}: {result}")
for f in failures:
    print("FAILED", f)
if skipped:
    print(f"{skipped} skipped (not counted as passed)")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
