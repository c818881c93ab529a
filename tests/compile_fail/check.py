#!/usr/bin/env python3
"""A compile-fail check: compiles SOURCE with the given compiler command and include directory;
passes when the compilation fails with a diagnostic matching the regex on SOURCE's first line
(`// EXPECT: <regex>`), fails when it compiles or fails for another reason.

  check.py INCLUDE_DIR SOURCE -- COMPILER [ARGS...]
"""
import re
import subprocess
import sys


def main():
    include_dir, source = sys.argv[1], sys.argv[2]
    compiler = sys.argv[sys.argv.index("--") + 1:]
    with open(source) as f:
        first = f.readline()
    m = re.match(r"// EXPECT: (.*)", first)
    if not m:
        print(f"{source}: no '// EXPECT: <regex>' first line")
        return 1
    expected = re.compile(m.group(1).strip())
    run = subprocess.run(compiler + ["-std=c++20", "-fsyntax-only", "-I", include_dir, source],
                         capture_output=True, text=True)
    if run.returncode == 0:
        print(f"{source}: compiled, but must not")
        return 1
    if not expected.search(run.stderr):
        print(f"{source}: failed without the expected diagnostic /{expected.pattern}/:")
        print(run.stderr[-3000:])
        return 1
    print(f"{source}: refused as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
