#!/usr/bin/python3
"""Summarises the benchmark JSON files of bench/PROTOCOL.md: one table, the ratio table, plots.

    /usr/bin/python3 bench/report.py [FILE.json ...] [--out DIR]

FILES default to bench/out/uvtask.json, bench/out/uvtask-s9.json (uvtask's S9, measured from
Python), bench/out/uvtask-threads.json (S8), bench/out/uvtask-echo.json (the echo scenario) —
all merged into the uvtask row — and bench/out/peer-*.json (peer-tokio-echo.json merged into
the tokio row). A file marked "partial" adds metrics to its runtime's row, never its version. Prints (stdout):
  - header lines: date, machine (CPU model, cores, kernel, memory), each runtime's version;
  - table 1: one row per runtime; latencies in µs (p50 / p99), S2 costs in ns per op,
    S4 spawn in ns/task, bytes/task and cancels/s for 100k and 1m tasks; S9 (Python) latency,
    work rate, ticker lateness and round trip; S8 (threads) cross-loop cancel latency, post
    round trip and posts/s from 1 and 2 threads; echo requests/s on 1 and 2 loops/workers;
  - table 2 (only if uvtask's file is among the inputs): uvtask's ratio to each peer, per column:
    peer / uvtask for costs and latencies, uvtask / peer for rates, so > 1 means uvtask is
    better on that column.
Writes into DIR (default bench/out): results.json (machine, versions, every metric with every
percentile, without the raw samples), table.md (the same tables in Markdown) and latency.png
(ECDF of the S1a, S1b, S3, S5, S6, S7b and S9 latency samples per runtime, log-x).
"""
import argparse
import datetime
import glob
import json
import math
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ORDER = ["uvtask", "uvtask-nothrow", "asyncio", "uvloop", "trio", "node", "asio-exc", "asio-ec", "tokio"]

# (group, sub-label, metric, field, kind); kind: lat (ns shown as µs, lower is better),
# ns (lower is better), bytes (lower is better), rate (higher is better)
COLUMNS = [
    ("S1a µs", "p50", "S1a", "p50", "lat"),
    ("S1a µs", "p99", "S1a", "p99", "lat"),
    ("S1b µs", "p50", "S1b", "p50", "lat"),
    ("S1b µs", "p99", "S1b", "p99", "lat"),
    ("S2 ns/op", "yield", "S2_yield", "value", "ns"),
    ("S2 ns/op", "ckpt", "S2_checkpoint", "value", "ns"),
    ("S3 µs", "p50", "S3", "p50", "lat"),
    ("S3 µs", "p99", "S3", "p99", "lat"),
    ("S4 100k", "ns/task", "S4_100k_spawn", "value", "ns"),
    ("S4 100k", "B/task", "S4_100k_bytes", "value", "bytes"),
    ("S4 100k", "cancel/s", "S4_100k_cancels_per_s", "value", "rate"),
    ("S4 1m", "ns/task", "S4_1m_spawn", "value", "ns"),
    ("S4 1m", "B/task", "S4_1m_bytes", "value", "bytes"),
    ("S4 1m", "cancel/s", "S4_1m_cancels_per_s", "value", "rate"),
    ("S5 µs", "p50", "S5", "p50", "lat"),
    ("S5 µs", "p99", "S5", "p99", "lat"),
    ("S6 µs", "p50", "S6", "p50", "lat"),
    ("S6 µs", "p99", "S6", "p99", "lat"),
    ("S7a µs", "p50", "S7a", "p50", "lat"),
    ("S7a µs", "p99", "S7a", "p99", "lat"),
    ("S7b µs", "p50", "S7b", "p50", "lat"),
    ("S7b µs", "p99", "S7b", "p99", "lat"),
    ("S9 µs", "p50", "S9", "p50", "lat"),
    ("S9 µs", "p99", "S9", "p99", "lat"),
    ("S9 work", "num/s", "S9_work", "value", "rate"),
    ("S9 tick µs", "p99", "S9_tick", "p99", "lat"),
    ("S9 rt", "ns", "S9_rt", "value", "ns"),
    ("S8a µs", "p50", "S8a", "p50", "lat"),
    ("S8a µs", "p99", "S8a", "p99", "lat"),
    ("S8b µs", "p50", "S8b", "p50", "lat"),
    ("S8b µs", "p99", "S8b", "p99", "lat"),
    ("post rtt µs", "p50", "S8_post_rtt", "p50", "lat"),
    ("post rtt µs", "p99", "S8_post_rtt", "p99", "lat"),
    ("posts/s", "1 thr", "S8_post_1thread", "value", "rate"),
    ("posts/s", "2 thr", "S8_post_2threads", "value", "rate"),
    ("echo req/s", "1 loop", "echo_1loop", "value", "rate"),
    ("echo req/s", "2 loops", "echo_2loops", "value", "rate"),
]
# The text table is printed in panels so that it fits a terminal: S1–S3, S4–S7, S9, S8 + echo
# (the column ranges, 1-based, end excluded).
PANELS = [(1, 9), (9, 23), (23, 28), (28, len(COLUMNS) + 1)]
PLOTTED = [("S1a", "S1a: cancel → task's handler"), ("S1b", "S1b: cancel → canceller's join"),
           ("S3", "S3: CPU-bound task, timer cancel → handler"), ("S5", "S5: cancel from another thread → handler"),
           ("S6", "S6: cancel a blocked TCP read → handler"),
           ("S7b", "S7b: cancel a thread-pool job → handler after the job ended"),
           ("S9", "S9: asyncio task.cancel() of a CPU-bound job → CancelledError"),
           ("S8b", "S8b: cancel a task of another loop → the canceller's join")]


# ---------------------------------------------------------------------------------------------
def machine_info():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": f"{platform.system()} {platform.release()}",
            "memory_gib": mem_gib, "hostname": platform.node()}


def load(files):
    runs = {}
    for path in files:
        try:
            with open(path) as f:
                text = f.read()
            obj = None
            for line in [text] + list(reversed(text.strip().splitlines())):
                try:
                    obj = json.loads(line)
                    break
                except ValueError:
                    continue
            if not isinstance(obj, dict) or "runtime" not in obj:
                raise ValueError("not a benchmark JSON object")
        except (OSError, ValueError) as e:
            print(f"report.py: ignoring {path}: {e}", file=sys.stderr)
            continue
        obj.setdefault("metrics", {})
        obj["_file"] = path
        if obj["runtime"] in runs and not obj.get("skipped"):
            # A runtime measured by several programs (uvtask: the C++ benchmarks, the Python S9,
            # the echo servers): one row, the metrics merged; the first full file's version stays.
            first = runs[obj["runtime"]]
            first["metrics"].update(obj["metrics"])
            if first.get("partial") and not obj.get("partial"):
                for key in ("version", "skipped", "wall_s", "_file"):
                    first[key] = obj.get(key)
                first.pop("partial")
            elif not obj.get("partial"):
                first.setdefault("extra_versions", []).append(obj.get("version"))
            continue
        runs[obj["runtime"]] = obj
    return sorted(runs.values(), key=lambda r: (ORDER.index(r["runtime"]) if r["runtime"] in ORDER
                                                else len(ORDER), r["runtime"]))


def value(run, metric, field):
    m = run.get("metrics", {}).get(metric)
    if not isinstance(m, dict):
        return None
    v = m.get(field)
    return v if isinstance(v, (int, float)) and math.isfinite(v) else None


# ---------------------------------------------------------------------------------------------
def fmt(v, kind):
    if v is None:
        return "–"
    if kind == "lat":
        us = v / 1000.0
        if us < 10:
            return f"{us:.2f}"
        if us < 100:
            return f"{us:.1f}"
        return f"{us:.0f}"
    if kind == "ns":
        return f"{v:.1f}" if v < 10 else f"{v:.0f}"
    if kind == "bytes":
        return f"{v:.0f}"
    if kind == "rate":
        if v >= 1e6:
            return f"{v / 1e6:.2f}M"
        if v >= 1e3:
            return f"{v / 1e3:.0f}k"
        return f"{v:.0f}"
    return str(v)


def ratio(uv, peer, kind):
    if uv is None or peer is None or uv <= 0 or peer <= 0:
        return None
    return uv / peer if kind == "rate" else peer / uv


def fmt_ratio(r):
    if r is None:
        return "–"
    if r >= 100:
        return f"{r:.0f}×"
    if r >= 10:
        return f"{r:.1f}×"
    return f"{r:.2f}×"


def text_table(head1, head2, rows):
    """Two header rows (group, sub-label), first column left-aligned, others right-aligned."""
    ncol = len(head2)
    full = [r for r in rows if len(r) == ncol]
    widths = [max([len(head2[i])] + [len(r[i]) for r in full]) for i in range(ncol)]
    widths[0] = max([widths[0]] + [len(r[0]) for r in rows])
    # widen columns so that each group label fits over its span
    i = 0
    while i < ncol:
        j = i
        while j + 1 < ncol and head1[j + 1] == head1[i]:
            j += 1
        span = sum(widths[i:j + 1]) + 2 * (j - i)
        if len(head1[i]) > span:
            widths[j] += len(head1[i]) - span
        i = j + 1
    lines = []
    g = []
    i = 0
    while i < ncol:
        j = i
        while j + 1 < ncol and head1[j + 1] == head1[i]:
            j += 1
        span = sum(widths[i:j + 1]) + 2 * (j - i)
        g.append(head1[i].center(span) if i else head1[i].ljust(span))
        i = j + 1
    lines.append("  ".join(g).rstrip())
    lines.append("  ".join(h.ljust(widths[k]) if k == 0 else h.rjust(widths[k])
                           for k, h in enumerate(head2)))
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        if len(r) == 2:  # a skipped runtime: name + message across the row
            lines.append(r[0].ljust(widths[0]) + "  " + r[1])
            continue
        lines.append("  ".join(c.ljust(widths[k]) if k == 0 else c.rjust(widths[k])
                               for k, c in enumerate(r)))
    return "\n".join(lines)


def panel(row, lo, hi):
    """The first cell and cells [lo, hi) of a table row; a skipped runtime's 2-cell row as it is."""
    return row if len(row) == 2 else [row[0]] + row[lo:hi]


def md_table(head, rows):
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for r in rows:
        if len(r) == 2:
            r = [r[0], r[1]] + [""] * (len(head) - 2)
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
def plot(runs, path, title):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        print(f"report.py: matplotlib unavailable ({e}); {path} not written", file=sys.stderr)
        return False
    colors = {"uvtask": "#000000", "asyncio": "#1f77b4", "uvloop": "#17becf", "trio": "#9467bd",
              "node": "#2ca02c", "asio-exc": "#d62728", "asio-ec": "#ff7f0e", "tokio": "#8c564b"}
    fig, axes = plt.subplots(3, 3, figsize=(18, 13))
    for ax in list(axes.flat)[len(PLOTTED):]:
        ax.set_visible(False)
    handles = {}
    for ax, (metric, label) in zip(axes.flat, PLOTTED):
        drawn = 0
        for r in runs:
            m = r.get("metrics", {}).get(metric)
            if r.get("skipped") or not isinstance(m, dict) or not m.get("samples"):
                continue
            s = sorted(max(float(x), 1.0) / 1000.0 for x in m["samples"])
            n = len(s)
            y = [(i + 1) / n for i in range(n)]
            rt = r["runtime"]
            (line,) = ax.step(s, y, where="post", color=colors.get(rt), linewidth=2.4 if rt == "uvtask" else 1.4,
                              label=rt)
            handles[rt] = line
            drawn += 1
        ax.set_xscale("log")
        ax.set_ylim(0, 1.0)
        ax.set_title(label, fontsize=11)
        ax.set_xlabel("latency (µs, log scale)")
        ax.set_ylabel("fraction of samples ≤ x")
        for q in (0.5, 0.99):
            ax.axhline(q, color="#999999", linestyle=":", linewidth=0.8)
            ax.text(1.0, q, f" p{int(q * 100)}", transform=ax.get_yaxis_transform(), va="center",
                    fontsize=8, color="#666666")
        ax.grid(True, which="major", axis="x", alpha=0.3)
        if not drawn:
            ax.text(0.5, 0.5, "no samples", transform=ax.transAxes, ha="center")
    order = [rt for rt in ORDER if rt in handles] + sorted(rt for rt in handles if rt not in ORDER)
    fig.legend([handles[rt] for rt in order], order, loc="lower center", ncol=len(order), frameon=False,
               fontsize=10)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ---------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", help="benchmark JSON files")
    ap.add_argument("--out", default=os.path.join(HERE, "out"), help="output directory")
    args = ap.parse_args()
    files = args.files
    if not files:
        files = [os.path.join(HERE, "out", f) for f in
                 ("uvtask.json", "uvtask-nothrow.json", "uvtask-s9.json", "uvtask-threads.json",
                  "uvtask-echo.json")]
        files = [p for p in files if os.path.exists(p)]
        files += sorted(glob.glob(os.path.join(HERE, "out", "peer-*.json")))
    runs = load(files)
    if not runs:
        print("report.py: no benchmark JSON files", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)

    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    mach = machine_info()
    mach_line = (f"{mach['cpu']}, {mach['cores']} cores, {mach['kernel']}"
                 + (f", {mach['memory_gib']} GiB" if mach["memory_gib"] else ""))
    header = [f"date:    {date}", f"machine: {mach_line}", "versions:"]
    for r in runs:
        v = r.get("version") or "?"
        wall = f" [run {r['wall_s']:.0f} s]" if isinstance(r.get("wall_s"), (int, float)) and r["wall_s"] else ""
        header.append(f"  {r['runtime']:<9} {v}{wall}" + (f"  SKIPPED: {r['skipped']}" if r.get("skipped") else ""))

    head1 = [""] + [c[0] for c in COLUMNS]
    head2 = ["runtime"] + [c[1] for c in COLUMNS]
    rows = []
    for r in runs:
        if r.get("skipped"):
            rows.append([r["runtime"], f"skipped: {r['skipped']}"])
        else:
            rows.append([r["runtime"]] + [fmt(value(r, c[2], c[3]), c[4]) for c in COLUMNS])

    uv = next((r for r in runs if r["runtime"] == "uvtask" and not r.get("skipped")), None)
    # The zero-exception idiom's row (docs/zero-exception.md): its own ratios to the peers.
    uv_nothrow = next((r for r in runs if r["runtime"] == "uvtask-nothrow" and not r.get("skipped")), None)
    peers = [r for r in runs if not r["runtime"].startswith("uvtask")]
    def ratio_rows(ours, with_skipped):
        """One row per peer: `ours`'s ratio to it in every column (a skipped peer: its message)."""
        out_rows = []
        for r in peers:
            if r.get("skipped"):
                if with_skipped:
                    out_rows.append([r["runtime"], f"skipped: {r['skipped']}"])
                continue
            out_rows.append([r["runtime"]] + [fmt_ratio(ratio(value(ours, c[2], c[3]), value(r, c[2], c[3]), c[4]))
                                              for c in COLUMNS])
        return out_rows

    rrows = ratio_rows(uv, True) if uv is not None else []
    nrows = ratio_rows(uv_nothrow, False) if uv_nothrow is not None else []

    notes = []
    floors = [("floor_throw_catch", "one C++ throw+catch of CancelledError, hot"),
              ("floor_cold_throw_catch", "the same after S3's spinning (cold), the floor of S3"),
              ("floor_uv_async_wake", "waking a libuv loop blocked in uv_run from another thread (uv_async_send), "
               "no uvtask: the floor of S5 for a runtime on libuv"),
              ("floor_uv_async_rtt", "S8's post round trip on bare libuv (uv_async_send, the callback wakes the "
               "sender's futex), no uvtask: the floor of S8 post rtt for a runtime on libuv")]
    for name, label in floors:
        f = uv.get("metrics", {}).get(name) if uv is not None else None
        if isinstance(f, dict):
            notes.append(f"floor: {label}: p50 {fmt(f.get('p50'), 'lat')} µs, p99 {fmt(f.get('p99'), 'lat')} µs")
    notes.append("S1a cancel→task's handler, S1b cancel→canceller's join, S2 yield/checkpoint cost, "
                 "S3 CPU-bound task cancelled by a timer, S4 N sleeping tasks, S5 cancel from another thread, "
                 "S6 cancel a blocked loopback TCP read, S7a cancel→a thread-pool job sees it, S7b →the "
                 "task's handler once the job ended, S9 asyncio task.cancel() of a CPU-bound job → "
                 "CancelledError in the awaiter (uvtask: a native job; asyncio/uvloop: a Python loop "
                 "yielding with sleep(0) every ~10 µs), S9 work = prime-sieve numbers per second, S9 tick "
                 "= lateness of a 1 ms asyncio ticker meanwhile, S9 rt = awaiting a trivial coroutine "
                 "— S8a/S8b cancel a task on another loop/thread → its handler / the canceller's join, post rtt "
                 "= a foreign thread posts a call and blocks until it has run, posts/s = calls delivered while "
                 "1 or 2 foreign threads post, echo = req/s of an echo server on 1 or 2 loops (Tokio: worker "
                 "threads), 64 connections × 64-byte messages from one client on the same 2 cores "
                 "(bench/PROTOCOL.md). – = no equivalent / not run.")
    tk = next((r for r in runs if r["runtime"] == "tokio" and not r.get("skipped")), None)
    cross = value(tk, "S8_cross_thread", "value") if tk is not None else None
    if cross is not None and value(tk, "S8a", "n"):
        notes.append(f"tokio S8: its scheduler ran the cancelled task on another thread than the canceller "
                     f"in {cross:.0f} of {value(tk, 'S8a', 'n')} reps (work stealing decides; no API pins a task)")

    out = []
    out += header
    out.append("")
    for lo, hi in PANELS:
        out.append(text_table(panel(head1, lo, hi), panel(head2, lo, hi), [panel(r, lo, hi) for r in rows]))
        out.append("")
    rhead2 = ["vs peer"] + head2[1:]
    for title, table_rows in [
            ("uvtask's advantage (peer/uvtask for latencies and costs, uvtask/peer for rates; > 1 = uvtask better):",
             rrows),
            ("uvtask-nothrow's advantage (the zero-exception idiom; same convention, > 1 = uvtask-nothrow better):",
             nrows)]:
        if not table_rows:
            continue
        out.append(title)
        for lo, hi in PANELS:
            out.append(text_table(panel(head1, lo, hi), panel(rhead2, lo, hi), [panel(r, lo, hi) for r in table_rows]))
            out.append("")
    if out[-1] == "":
        out.pop()
    out.append("")
    out += notes
    print("\n".join(out))

    # Markdown
    md_head = ["runtime"] + [f"{c[0]} {c[1]}" for c in COLUMNS]
    md = [f"Measured {date} on {mach_line}.", ""]
    md.append("| runtime | version |")
    md.append("|---|---|")
    for r in runs:
        md.append(f"| {r['runtime']} | {(r.get('version') or '?')}{' (skipped: ' + r['skipped'] + ')' if r.get('skipped') else ''} |")
    md += ["", md_table(md_head, rows)]
    if rrows:
        md += ["", "uvtask's advantage (peer / uvtask for latencies and costs, uvtask / peer for rates; "
                   "> 1 means uvtask is better):", "", md_table(["vs peer"] + md_head[1:], rrows)]
    if nrows:
        md += ["", "uvtask-nothrow's advantage (the zero-exception idiom, docs/zero-exception.md; same "
                   "convention, > 1 means uvtask-nothrow is better):", "",
               md_table(["vs peer"] + md_head[1:], nrows)]
    md += [""] + [f"{n}  " for n in notes]
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write("\n".join(md).rstrip() + "\n")

    # results.json
    results = {"date": date, "machine": mach, "versions": {r["runtime"]: r.get("version") for r in runs},
               "skipped": {r["runtime"]: r["skipped"] for r in runs if r.get("skipped")},
               "wall_s": {r["runtime"]: r["wall_s"] for r in runs if "wall_s" in r},
               "metrics": {}}
    for r in runs:
        results["metrics"][r["runtime"]] = {
            name: {k: v for k, v in m.items() if k != "samples"} if isinstance(m, dict) else m
            for name, m in r.get("metrics", {}).items()}
    def ratio_map(ours):
        return {r["runtime"]: {f"{c[2]}.{c[3]}": ratio(value(ours, c[2], c[3]), value(r, c[2], c[3]), c[4])
                               for c in COLUMNS}
                for r in peers if not r.get("skipped")}

    if uv is not None:
        results["ratios_vs_uvtask"] = ratio_map(uv)
    if uv_nothrow is not None:
        results["ratios_vs_uvtask_nothrow"] = ratio_map(uv_nothrow)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")

    title = f"Cancellation latency (ECDF) — {date} — {mach_line}"
    written = [os.path.join(args.out, "results.json"), os.path.join(args.out, "table.md")]
    if plot(runs, os.path.join(args.out, "latency.png"), title):
        written.append(os.path.join(args.out, "latency.png"))
    print("\nwrote " + ", ".join(os.path.relpath(p) for p in written), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
