#!/usr/bin/env python3
"""The public headers under runtime/include/uvtask/ (detail/ included), for the self-containment
test of tests/headers/meson.build.

  public_headers.py INCLUDE_DIR
      prints every header as it is included ("uvtask/task.hpp", "uvtask/detail/x.hpp"), sorted,
      one a line: meson makes one translation unit of each at configure time.
  public_headers.py --check INCLUDE_DIR STAMP HEADER...
      run on every build: fails, naming them, when the headers on disk are not the HEADERs meson
      was configured with (a header added or removed since), so that no header escapes the test;
      writes STAMP otherwise.
"""
import pathlib
import sys


def public_headers(include_dir):
    root = pathlib.Path(include_dir)
    return sorted(str(p.relative_to(root)) for p in (root / "uvtask").rglob("*.hpp"))


def main(argv):
    if len(argv) == 1 and argv[0] != "--check":
        print("\n".join(public_headers(argv[0])))
        return 0
    if len(argv) >= 3 and argv[0] == "--check":
        include_dir, stamp, configured = argv[1], argv[2], set(argv[3:])
        on_disk = set(public_headers(include_dir))
        added, removed = sorted(on_disk - configured), sorted(configured - on_disk)
        if added or removed:
            for header in added:
                print(f"tests/headers: {header} is new and has no self-containment test yet",
                      file=sys.stderr)
            for header in removed:
                print(f"tests/headers: {header} is gone but still has a self-containment test",
                      file=sys.stderr)
            print("tests/headers: the header list is stale: run `meson setup --reconfigure "
                  "<builddir>` (tests/run does)", file=sys.stderr)
            return 1
        pathlib.Path(stamp).write_text("\n".join(sorted(on_disk)) + "\n")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
