#!/usr/bin/env python3
"""Counts test results from a meson testlog.json: every doctest case of a doctest executable,
every pytest case of a pytest run (from the junit XML file its command line names with
--junitxml=), one result for any other test (an example program). A doctest executable that died
before its summary, or a pytest run that wrote no junit file (a sanitizer abort, a crash), counts
as one failure; so does one whose cases all passed but whose process failed. Prints
`N passed, N failed`."""
import json
import re
import sys
import xml.etree.ElementTree as ElementTree

SUMMARY = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")

def junit_path(entry):
    for arg in entry.get("command") or []:
        if arg.startswith("--junitxml="):
            return arg[len("--junitxml="):]
    return None


def junit_counts(path):
    """(passed, failed) from a pytest junit file; skipped cases count as neither."""
    root = ElementTree.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    passed = failed = 0
    for suite in suites:
        tests = int(suite.get("tests", 0))
        bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        passed += tests - bad - int(suite.get("skipped", 0))
        failed += bad
    return passed, failed


def count(path):
    passed = failed = 0
    with open(path) as log:
        for line in log:
            if not line.strip():
                continue
            entry = json.loads(line)
            match = SUMMARY.search(entry.get("stdout", "") or "")
            ok = entry.get("result") in ("OK", "EXPECTEDFAIL")
            junit = junit_path(entry)
            if junit is not None:
                try:
                    p, f = junit_counts(junit)
                except (OSError, ElementTree.ParseError):
                    p, f = 0, 1  # no readable junit file: the run died before pytest wrote it
                else:
                    if not ok and f == 0:
                        f = 1  # the cases passed but the process failed (sanitizer at exit)
                passed += p
                failed += f
                continue
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
