#!/usr/bin/env python3
"""Counts test results from a meson testlog.json: every doctest case of a doctest executable,
one result for any other test (an example program). A doctest executable that died before its
summary (a sanitizer abort, a crash) counts as one failure. Prints `N passed, N failed`."""
import json
import re
import sys

SUMMARY = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")

def count(path):
    passed = failed = 0
    with open(path) as log:
        for line in log:
            if not line.strip():
                continue
            entry = json.loads(line)
            match = SUMMARY.search(entry.get("stdout", "") or "")
            ok = entry.get("result") in ("OK", "EXPECTEDFAIL")
            if match:
                passed += int(match.group(2))
                failed += int(match.group(3))
                if not ok and int(match.group(3)) == 0:
                    failed += 1  # the cases passed but the process failed (sanitizer at exit)
            elif entry.get("result") == "SKIP":
                continue
            elif ok:
                passed += 1
            else:
                failed += 1
    return passed, failed

if __name__ == "__main__":
    label = sys.argv[2] + " " if len(sys.argv) > 2 else ""
    p, f = count(sys.argv[1])
    print(f"{label}{p} passed, {f} failed")
