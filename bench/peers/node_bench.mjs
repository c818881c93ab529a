#!/usr/bin/env node
// Node peer for bench/PROTOCOL.md (scenarios S1..S5).
//
//     node bench/peers/node_bench.mjs [--quick] [--only S1,S2]
//
// Prints one JSON object on stdout (runtime "node"); diagnostics go to stderr.
// Idioms: a "task" is an async function called with an AbortSignal (one AbortController per
// task); cancel = controller.abort(); join = await the task's promise; the sleep is
// `timers/promises` setTimeout(ms, undefined, {signal}) and the handler is a catch of the
// AbortError. yield = `await new Promise(r => setImmediate(r))`; a CPU-bound loop checks
// `signal.throwIfAborted()` after each yield. S5: Node has no shared-memory threads running JS
// on the same heap, so the "other OS thread" is a worker_threads Worker created once: it takes
// t0 and posts a message; the main thread's message handler calls controller.abort().
// The script re-runs itself with --max-old-space-size=12288 (S4 with 1 000 000 tasks does not fit
// in V8's default heap cap).
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { readFileSync } from 'node:fs';

const now = () => process.hrtime.bigint(); // CLOCK_MONOTONIC (uv_hrtime), ns


function parseArgs() {
  const argv = process.argv.slice(2);
  let quick = false; let only = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') quick = true;
    else if (a === '--only') only = argv[++i].split(',');
    else if (a.startsWith('--only=')) only = a.slice(7).split(',');
    else { console.error(`unknown argument ${a}`); process.exit(2); }
  }
  only = only.map((s) => s.trim().toUpperCase()).filter(Boolean);
  return { quick, scenarios: new Set(only.length ? only : ['S1', 'S2', 'S3', 'S4', 'S5']) };
}

function params(quick) {
  return quick
    ? { s1Warmup: 100, s1Reps: 1000, s2Yields: 100_000, s2Runs: 3, s3Warmup: 3, s3Reps: 30,
        s3DelayMs: 10, s4Sizes: [['100k', 100_000]], s5Warmup: 20, s5Reps: 200 }
    : { s1Warmup: 500, s1Reps: 10000, s2Yields: 1_000_000, s2Runs: 5, s3Warmup: 10, s3Reps: 200,
        s3DelayMs: 50, s4Sizes: [['100k', 100_000], ['1m', 1_000_000]], s5Warmup: 100, s5Reps: 2000 };
}

const SLEEP_MS = 10_000;
const S4_SLEEP_MS = 60_000;
const SPIN_NS = 10_000n;

function latency(samples) {
  const s = Float64Array.from(samples).sort();
  const n = s.length;
  const q = (p) => s[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))];
  return { unit: 'ns', n, p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: s[n - 1],
           samples: Array.from(samples) };
}

function perOp(runs) {
  const r = [...runs].sort((a, b) => a - b);
  return { unit: 'ns/op', value: r[(r.length - 1) >> 1], runs };
}

function rssBytes() {
  // /proc/self/statm resident pages x page size (4096 on x86-64 Linux)
  return Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * 4096;
}

const yieldNow = () => new Promise((r) => setImmediate(r));
const log = (...a) => console.error(...a);

// The seed article's worker: sleeps, catches the cancellation, returns a value.
async function sleeperWorker(signal, rec) {
  rec.started = true;
  try {
    await sleep(SLEEP_MS, undefined, { signal });
  } catch (e) {
    if (e.name !== 'AbortError') throw e;
    rec.tHandler = now();
    return 'Canceled';
  }
  return 'Finished';
}

async function s1(p, metrics) {
  const a = []; const b = [];
  for (let i = 0; i < p.s1Warmup + p.s1Reps; i++) {
    const rec = { started: false, tHandler: 0n };
    const ac = new AbortController();
    const task = sleeperWorker(ac.signal, rec);
    while (!rec.started) await yieldNow();
    const t0 = now();
    ac.abort();
    const r = await task;
    const tJoin = now();
    if (r !== 'Canceled') throw new Error(r);
    if (i >= p.s1Warmup) { a.push(Number(rec.tHandler - t0)); b.push(Number(tJoin - t0)); }
  }
  metrics.S1a = latency(a);
  metrics.S1b = latency(b);
}

async function s2(p, metrics) {
  const runs = [];
  const n = p.s2Yields;
  for (let r = 0; r < p.s2Runs; r++) {
    const t0 = now();
    for (let i = 0; i < n; i++) await yieldNow();
    runs.push(Number(now() - t0) / n);
  }
  metrics.S2_yield = perOp(runs);
  // Node has no cheap cancellation check distinct from a yield: S2_checkpoint absent.
}

async function cpuWorker(signal, rec) {
  try {
    for (;;) {
      const end = now() + SPIN_NS;
      while (now() < end) { /* busy */ }
      await yieldNow();
      signal.throwIfAborted();
    }
  } catch (e) {
    if (e.name !== 'AbortError') throw e;
    rec.tHandler = now();
    return 'Canceled';
  }
}

async function s3(p, metrics) {
  const samples = [];
  for (let i = 0; i < p.s3Warmup + p.s3Reps; i++) {
    const rec = { tHandler: 0n };
    const ac = new AbortController();
    const task = cpuWorker(ac.signal, rec);
    await sleep(p.s3DelayMs);
    const t0 = now();
    ac.abort();
    const r = await task;
    if (r !== 'Canceled') throw new Error(r);
    if (i >= p.s3Warmup) samples.push(Number(rec.tHandler - t0));
  }
  metrics.S3 = latency(samples);
}

async function s4(p, metrics) {
  for (const [label, n] of p.s4Sizes) {
    let count = 0;
    const sleeper = async (signal) => {
      count++;
      try {
        await sleep(S4_SLEEP_MS, undefined, { signal });
      } catch (e) {
        if (e.name !== 'AbortError') throw e;
      }
    };
    if (global.gc) global.gc();
    const rss0 = rssBytes();
    const t0 = now();
    let controllers = new Array(n);
    let tasks = new Array(n);
    for (let i = 0; i < n; i++) {
      const ac = new AbortController();
      controllers[i] = ac;
      tasks[i] = sleeper(ac.signal);
    }
    while (count < n) await yieldNow();
    const t1 = now();
    const rss1 = rssBytes();
    const t2 = now();
    for (let i = 0; i < n; i++) controllers[i].abort();
    await Promise.all(tasks);
    const t3 = now();
    const ct = Number(t3 - t2);
    metrics[`S4_${label}_spawn`] = { unit: 'ns/task', value: Number(t1 - t0) / n };
    metrics[`S4_${label}_bytes`] = { unit: 'bytes/task', value: (rss1 - rss0) / n };
    metrics[`S4_${label}_cancel_join`] = { unit: 'ns', value: ct };
    metrics[`S4_${label}_cancels_per_s`] = { unit: '1/s', value: n / (ct / 1e9) };
    log(`S4 ${label}: spawn ${(Number(t1 - t0) / n).toFixed(0)} ns/task, ` +
        `${((rss1 - rss0) / n).toFixed(0)} B/task, cancel+join ${(ct / 1e6).toFixed(1)} ms`);
    controllers = null; tasks = null;
    await yieldNow();
    if (global.gc) global.gc();
  }
}

async function s5(p, metrics) {
  const worker = new Worker(new URL(import.meta.url));
  await new Promise((resolve, reject) => { worker.once('online', resolve); worker.once('error', reject); });
  let current = null; // { ac, t0 }
  worker.on('message', (t0) => {
    // the "thread-safe cancel": runs on the main thread when the Worker's message arrives
    current.t0 = t0;
    current.ac.abort();
  });
  const samples = [];
  for (let i = 0; i < p.s5Warmup + p.s5Reps; i++) {
    const rec = { started: false, tHandler: 0n };
    const ac = new AbortController();
    current = { ac, t0: 0n };
    const task = sleeperWorker(ac.signal, rec);
    while (!rec.started) await yieldNow();
    worker.postMessage('go'); // tell the thread to go (not measured)
    const r = await task;
    if (r !== 'Canceled') throw new Error(r);
    if (i >= p.s5Warmup) samples.push(Number(rec.tHandler - current.t0));
  }
  worker.postMessage('stop');
  await worker.terminate();
  metrics.S5 = latency(samples);
}

async function main() {
  const args = parseArgs();
  const p = params(args.quick);
  const metrics = {};
  for (const [name, fn] of [['S1', s1], ['S2', s2], ['S3', s3], ['S4', s4], ['S5', s5]]) {
    if (!args.scenarios.has(name)) continue;
    const t = now();
    await fn(p, metrics);
    log(`${name} done in ${(Number(now() - t) / 1e9).toFixed(1)} s`);
  }
  process.stdout.write(JSON.stringify({ runtime: 'node', version: `node ${process.version} (V8 ${process.versions.v8}, libuv ${process.versions.uv})`, skipped: null, metrics }) + '\n');
}

if (!isMainThread) {
  // S5 canceller thread: told to go by the main thread (not measured), takes t0, asks for the cancel.
  parentPort.on('message', (m) => {
    if (m === 'stop') { parentPort.close(); return; }
    const t0 = now();
    parentPort.postMessage(t0);
  });
} else if (!process.execArgv.some((a) => a.startsWith('--max-old-space-size'))) {
  // S4 keeps 1 000 000 tasks (promise + AbortController + timer each) alive at once: V8's default
  // heap cap (about 4 GiB on this machine) runs out, so run again with a 12 GiB cap. This only
  // lifts the limit; it changes nothing else.
  const { spawnSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const r = spawnSync(process.execPath,
    ['--max-old-space-size=12288', ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: 'inherit' });
  process.exit(r.status ?? 1);
} else {
  await main();
}
