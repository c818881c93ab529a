#!/usr/bin/env python3
"""What a change costs, measured as issue 14 asks for the opt-in diagnostics "when off": builds
uvtask_bench in release mode at a base commit (in a temporary git worktree) and in this tree,
runs the two alternately `--runs` times each (the machine is shared and noisy: alternating keeps
both under the same load), and prints the median and range of S1a/S1b p50, S2 (yield,
checkpoint), S4 (spawn time, bytes and cancels per second) for both, with the ratios of the
medians and of the minimums. On a shared 2-core VM the times are bimodal (a run lands on a fast
or a slow mode, ~1.5x apart): compare a change against a control (two builds of the same code)
before reading a ratio as a cost.

    bench/compare_commits.py BASE [--runs 5] [--only S1,S2,S4]

BASE is any commit (e.g. the commit before a feature). Compare ratios within one run only.
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
METRICS = [  # (name in the JSON, field, label, lower is better)
    ("S1a", "p50", "S1a p50 (ns)", True),
    ("S1b", "p50", "S1b p50 (ns)", True),
    ("S2_yield", "value", "S2 yield (ns/op)", True),
    ("S2_checkpoint", "value", "S2 checkpoint (ns/op)", True),
    ("S4_100k_spawn", "value", "S4 100k spawn (ns/task)", True),
    ("S4_100k_bytes", "value", "S4 100k bytes/task", True),
    ("S4_100k_cancels_per_s", "value", "S4 100k cancels/s", False),
    ("S4_1m_bytes", "value", "S4 1m bytes/task", True),
    ("S4_1m_cancels_per_s", "value", "S4 1m cancels/s", False),
]


def build(source, builddir):
    if not (builddir / "build.ninja").exists():
        subprocess.run(["meson", "setup", str(builddir), "-Dbuildtype=release", "-Dtests=disabled",
                        "-Dbench=enabled", "-Dbindings=disabled"], cwd=source, check=True,
                       stdout=subprocess.DEVNULL)
    subprocess.run(["ninja", "-C", str(builddir), "bench/uvtask_bench"], check=True,
                   stdout=subprocess.DEVNULL)
    return builddir / "bench" / "uvtask_bench"


def run_once(binary, only):
    out = subprocess.run([str(binary), "--only", only], check=True, capture_output=True,
                         text=True).stdout
    metrics = json.loads(out)["metrics"]
    return {label: metrics[name][field] for name, field, label, _ in METRICS if name in metrics}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="S1,S2,S4")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="uvtask-base-") as tmp:
        base_tree = pathlib.Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(base_tree), args.base],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            binaries = {"base": build(base_tree, base_tree / "build-compare"),
                        "this tree": build(ROOT, ROOT / "build-compare")}
            samples = {key: [] for key in binaries}
            for i in range(args.runs):
                for key, binary in binaries.items():
                    samples[key].append(run_once(binary, args.only))
                    print(f"run {i + 1}/{args.runs}: {key} done", file=sys.stderr)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT,
                           check=False)
    base_rev = subprocess.run(["git", "rev-parse", "--short", args.base], cwd=ROOT,
                              capture_output=True, text=True).stdout.strip()
    print(f"| metric ({args.runs} alternating runs each) | base {base_rev}: median [min–max] "
          f"| this tree: median [min–max] | this/base (medians) | this/base (minimums) |")
    print("|---|---|---|---|---|")
    for _, _, label, _ in METRICS:
        values = {k: [s[label] for s in v if label in s] for k, v in samples.items()}
        if not all(values.values()):
            continue
        med = {k: statistics.median(v) for k, v in values.items()}
        cells = [f"{med[k]:.4g} [{min(v):.4g}–{max(v):.4g}]" for k, v in values.items()]
        low = {k: min(v) for k, v in values.items()}
        print(f"| {label} | {cells[0]} | {cells[1]} | {med['this tree'] / med['base']:.3f} "
              f"| {low['this tree'] / low['base']:.3f} |")


if __name__ == "__main__":
    main()
