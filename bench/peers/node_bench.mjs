#!/usr/bin/env node
// Node peer for bench/PROTOCOL.md (scenarios S1..S7).
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
// S6: net.createServer + net.connect on 127.0.0.1; the read is a promise of the socket's next
// 'data' event that the task's AbortSignal rejects (the socket is paused between reads, so
// nothing arrives with no listener). S7: the "thread pool" is one worker_threads Worker (created
// once, reused) that spins on a SharedArrayBuffer flag (Atomics.load); the task posts the job and
// awaits the Worker's completion message; its abort listener sets the flag (Atomics.store).
// The script re-runs itself with --max-old-space-size=12288 (S4 with 1 000 000 tasks does not fit
// in V8's default heap cap).
import { setTimeout as sleep } from 'node:timers/promises';
import { once } from 'node:events';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import net from 'node:net';

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
  return { quick, scenarios: new Set(only.length ? only : ['S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7']) };
}

function params(quick) {
  return quick
    ? { s1Warmup: 100, s1Reps: 1000, s2Yields: 100_000, s2Runs: 3, s3Warmup: 3, s3Reps: 30,
        s3DelayMs: 10, s4Sizes: [['100k', 100_000]], s5Warmup: 20, s5Reps: 200,
        s6Warmup: 100, s6Reps: 1000, s7Warmup: 20, s7Reps: 200 }
    : { s1Warmup: 500, s1Reps: 10000, s2Yields: 1_000_000, s2Runs: 5, s3Warmup: 10, s3Reps: 200,
        s3DelayMs: 50, s4Sizes: [['100k', 100_000], ['1m', 1_000_000]], s5Warmup: 100, s5Reps: 2000,
        s6Warmup: 500, s6Reps: 10000, s7Warmup: 100, s7Reps: 2000 };
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

// read_some on a paused socket: resumes it, resolves with the next chunk ('data' event) or null
// at EOF, rejects with the signal's reason (an AbortError) when aborted; pauses the socket again
// before settling, so a chunk that arrives later stays buffered for the next read.
function readSome(socket, signal) {
  return new Promise((resolve, reject) => {
    signal.throwIfAborted();
    const settle = () => {
      socket.pause();
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      signal.removeEventListener('abort', onAbort);
    };
    const onData = (chunk) => { settle(); resolve(chunk); };
    const onEnd = () => { settle(); resolve(null); };
    const onError = (e) => { settle(); reject(e); };
    const onAbort = () => { settle(); reject(signal.reason); };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.resume();
  });
}

async function blockedReader(signal, rec, socket) {
  rec.started = true;
  try {
    const chunk = await readSome(socket, signal);
    return chunk === null ? 'EOF' : 'Data';
  } catch (e) {
    if (e.name !== 'AbortError') throw e;
    rec.tHandler = now();
    return 'Canceled';
  }
}

function fail(msg) {
  console.error(`FAILED: ${msg}`);
  process.exit(1);
}

async function s6(p, metrics) {
  // pauseOnConnect: the accepted socket starts paused (not reading, not flowing).
  const server = net.createServer({ pauseOnConnect: true });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const accepted = once(server, 'connection');
  const client = net.connect(server.address().port, '127.0.0.1');
  await once(client, 'connect');
  const [sock] = await accepted;
  const samples = [];
  for (let i = 0; i < p.s6Warmup + p.s6Reps; i++) {
    const rec = { started: false, tHandler: 0n };
    const ac = new AbortController();
    const task = blockedReader(ac.signal, rec, sock);
    while (!rec.started) await yieldNow();
    await yieldNow(); // the read is pending
    const t0 = now();
    ac.abort();
    const r = await task;
    if (r !== 'Canceled') fail(`S6: unexpected result ${r}`);
    if (i >= p.s6Warmup) samples.push(Number(rec.tHandler - t0));
  }
  // The socket is still usable after every cancelled read: one byte written arrives.
  client.write('x');
  let last = null;
  try {
    last = await readSome(sock, AbortSignal.timeout(5000));
  } catch (e) {
    if (e.name !== 'TimeoutError') throw e;
  }
  if (last === null || last.length !== 1 || last[0] !== 0x78) {
    fail(`S6: the socket lost data after the cancelled reads (last read: ${last === null ? 'nothing' : JSON.stringify(last.toString())}, expected "x")`);
  }
  client.destroy();
  sock.destroy();
  await new Promise((resolve) => server.close(resolve));
  metrics.S6 = latency(samples);
}

// S7's shared flags (an Int32Array over a SharedArrayBuffer shared with the pool Worker)
const STARTED = 0;
const STOP = 1;

// The task: runs the job on the Worker and awaits its completion message, whatever happens (no
// orphan job); its abort listener is the job's stop request. When the job has returned, a pending
// abort is delivered (throwIfAborted) and caught by the handler.
async function poolWaiter(signal, rec, pool) {
  const onAbort = () => Atomics.store(pool.ctl, STOP, 1);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    rec.tSeen = await pool.run();
    signal.throwIfAborted();
    return 'Done';
  } catch (e) {
    if (e.name !== 'AbortError') throw e;
    rec.tHandler = now();
    return 'Canceled';
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

async function s7(p, metrics) {
  const ctl = new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
  const worker = new Worker(new URL(import.meta.url), { workerData: { role: 'pool', ctl } });
  await new Promise((resolve, reject) => { worker.once('online', resolve); worker.once('error', reject); });
  let done = null; // { resolve, reject } of the job in flight
  worker.on('message', (tSeen) => { const d = done; done = null; d.resolve(tSeen); });
  worker.on('error', (e) => { if (done) { const d = done; done = null; d.reject(e); } else throw e; });
  const pool = {
    ctl,
    run() {
      return new Promise((resolve, reject) => {
        done = { resolve, reject };
        Atomics.store(ctl, STARTED, 0);
        Atomics.store(ctl, STOP, 0);
        worker.postMessage('job');
      });
    },
  };
  const seen = []; const handler = [];
  for (let i = 0; i < p.s7Warmup + p.s7Reps; i++) {
    const rec = { tSeen: 0n, tHandler: 0n };
    const ac = new AbortController();
    const task = poolWaiter(ac.signal, rec, pool);
    while (Atomics.load(ctl, STARTED) === 0) await yieldNow();
    const t0 = now();
    ac.abort();
    const r = await task;
    if (r !== 'Canceled') fail(`S7: unexpected result ${r}`);
    if (i >= p.s7Warmup) { seen.push(Number(rec.tSeen - t0)); handler.push(Number(rec.tHandler - t0)); }
  }
  worker.postMessage('stop');
  await worker.terminate();
  metrics.S7a = latency(seen);
  metrics.S7b = latency(handler);
}

async function main() {
  const args = parseArgs();
  const p = params(args.quick);
  const metrics = {};
  for (const [name, fn] of [['S1', s1], ['S2', s2], ['S3', s3], ['S4', s4], ['S5', s5], ['S6', s6],
                            ['S7', s7]]) {
    if (!args.scenarios.has(name)) continue;
    const t = now();
    await fn(p, metrics);
    log(`${name} done in ${(Number(now() - t) / 1e9).toFixed(1)} s`);
  }
  process.stdout.write(JSON.stringify({ runtime: 'node', version: `node ${process.version} (V8 ${process.versions.v8}, libuv ${process.versions.uv})`, skipped: null, metrics }) + '\n');
}

if (!isMainThread && workerData?.role === 'pool') {
  // S7 pool thread: each 'job' message runs the blocking job: sets started, spins until the stop
  // flag is set, takes t_seen (process.hrtime.bigint() is the same monotonic clock in a Worker)
  // and posts it back as its completion message.
  const ctl = workerData.ctl;
  parentPort.on('message', (m) => {
    if (m === 'stop') { parentPort.close(); return; }
    Atomics.store(ctl, STARTED, 1);
    while (Atomics.load(ctl, STOP) === 0) { /* spin */ }
    parentPort.postMessage(now());
  });
} else if (!isMainThread) {
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
