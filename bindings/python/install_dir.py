#!/usr/bin/env python3
"""Prints the directory under PREFIX where this interpreter finds installed packages, for
`meson install` of the package uvtask:

    install_dir.py PREFIX

The entry of sys.path under PREFIX that is a dist-packages/site-packages directory (one in
PREFIX/lib… first)
(Debian's python3 looks in /usr/local/lib/python3.X/dist-packages for PREFIX=/usr/local, and in
/usr/lib/python3/dist-packages for /usr). Else the platlib path of the posix_prefix scheme for
PREFIX (what user installs under ~/.local use). Meson 1.0's own choice on Debian,
PREFIX/lib/python3/dist-packages, is on no sys.path for PREFIX=/usr/local.
"""
import os
import sys
import sysconfig

prefix = os.path.normpath(sys.argv[1])
found = []
for entry in map(os.path.normpath, sys.path):
    if entry.startswith(prefix + os.sep) and os.path.basename(entry) in ("dist-packages",
                                                                          "site-packages"):
        found.append(entry)
# PREFIX/lib… before PREFIX/local/lib… (PREFIX=/usr must not pick /usr/local's directory).
found.sort(key=lambda entry: not os.path.relpath(entry, prefix).startswith("lib"))
if found:
    print(found[0])
else:
    print(sysconfig.get_path("platlib", "posix_prefix", vars={"base": prefix, "platbase": prefix}))
