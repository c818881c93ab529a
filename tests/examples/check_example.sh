#!/bin/sh
# Runs an example program and compares its standard output with the expected file.
set -u
program=$1
expected=$2
actual=$("$program") || { echo "exit status $? from $program"; exit 1; }
if [ "$actual" != "$(cat "$expected")" ]; then
  echo "--- expected"; cat "$expected"; echo "--- actual"; printf '%s\n' "$actual"
  exit 1
fi
