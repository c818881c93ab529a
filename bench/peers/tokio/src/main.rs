//! Tokio peer for bench/PROTOCOL.md (scenarios S1..S7).
//!
//!     bench/out/tokio_bench [--quick] [--only S1,S2]
//!
//! Prints one JSON object on stdout (runtime "tokio"); diagnostics go to stderr.
//! Idioms: `current_thread` runtime (`tokio::main` with flavor current_thread), tasks are
//! `tokio::spawn`, cancel = `JoinHandle::abort()`, join = `handle.await` (an `Err(JoinError)`
//! with `is_cancelled()`), the sleep is `tokio::time::sleep`, yield = `tokio::task::yield_now()`.
//! Tokio has no in-task cancellation handler (an aborted future is simply dropped at its
//! suspension point), so the "handler" is a `Drop` guard in the future that records the time.
//! S5: Tokio 1.24 does not expose `AbortHandle` publicly (`JoinHandle::abort_handle` is
//! crate-private in this version), so the second OS thread is handed the `JoinHandle` itself
//! (`abort()` is thread-safe), takes t0, calls `abort()`, and hands the handle back through a
//! `tokio::sync::oneshot` so the loop can join it.
//! S2_checkpoint uses `tokio::task::consume_budget()`, which this Tokio only exposes under
//! `--cfg tokio_unstable`: a second build with that flag measures it alone (see `s2`).
//! S6: the read is on the accepted side of a loopback `tokio::net` connection, shared by the
//! reps' tasks as an `Arc<TcpStream>` (an aborted task drops its future, so the stream cannot be
//! moved into it): `stream.readable().await` + `stream.try_read(&mut buf)`, Tokio's documented
//! idiom for a `&TcpStream` (`AsyncRead` needs `&mut`); abort drops the pending `readable()`.
//! S7: the job is `tokio::task::spawn_blocking`, awaited through its `JoinHandle`. Aborting the
//! awaiting task drops that `JoinHandle`, which detaches the job without stopping it, so the stop
//! request is an `Arc<AtomicBool>` the job polls, set by the task's `Drop` guard. Drop cannot
//! await, so the guard also hands the job's `JoinHandle` to the canceller (a `oneshot`), which
//! awaits it after the aborted task's `JoinError`: the rep ends only once the job has returned,
//! and S7b is taken there (not in the task: Tokio has no handler that runs after the job).
//! Everything runs inside one spawned task (see `run_all`).
//! S8 (threads) and the echo server (`--echo-server N`) are in threads.rs, on multi-thread
//! runtimes of their own.

mod threads;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Acquire, Ordering::Relaxed,
    Ordering::Release};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{yield_now, JoinHandle};

static BASE: OnceLock<Instant> = OnceLock::new();

/// Monotonic clock (`Instant` = CLOCK_MONOTONIC), ns since the process's first reading.
#[inline]
fn now_ns() -> u64 {
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

struct Params {
    s1_warmup: usize,
    s1_reps: usize,
    s2_yields: u64,
    s2_runs: usize,
    s3_warmup: usize,
    s3_reps: usize,
    s3_delay: Duration,
    s3_spin_ns: u64,
    s4_sizes: Vec<(&'static str, usize)>,
    s5_warmup: usize,
    s5_reps: usize,
    s6_warmup: usize,
    s6_reps: usize,
    s7_warmup: usize,
    s7_reps: usize,
    post_count: usize,
}

impl Params {
    fn new(quick: bool) -> Self {
        if quick {
            Params {
                s1_warmup: 100, s1_reps: 1000, s2_yields: 100_000, s2_runs: 3, s3_warmup: 3,
                s3_reps: 30, s3_delay: Duration::from_millis(10), s3_spin_ns: 10_000,
                s4_sizes: vec![("100k", 100_000)], s5_warmup: 20, s5_reps: 200, s6_warmup: 100,
                s6_reps: 1000, s7_warmup: 20, s7_reps: 200, post_count: 100_000,
            }
        } else {
            Params {
                s1_warmup: 500, s1_reps: 10_000, s2_yields: 1_000_000, s2_runs: 5, s3_warmup: 10,
                s3_reps: 200, s3_delay: Duration::from_millis(50), s3_spin_ns: 10_000,
                s4_sizes: vec![("100k", 100_000), ("1m", 1_000_000)], s5_warmup: 100,
                s5_reps: 2000, s6_warmup: 500, s6_reps: 10_000, s7_warmup: 100, s7_reps: 2000,
                post_count: 1_000_000,
            }
        }
    }
}

#[derive(Default)]
struct Metrics(Vec<String>);

impl Metrics {
    fn latency(&mut self, name: &str, samples: &[u64]) {
        let mut s = samples.to_vec();
        s.sort_unstable();
        let n = s.len();
        let q = |p: f64| s[((p * n as f64).ceil() as usize).max(1).min(n) - 1];
        let list: Vec<String> = samples.iter().map(|v| v.to_string()).collect();
        self.0.push(format!(
            "\"{name}\":{{\"unit\":\"ns\",\"n\":{n},\"p50\":{},\"p90\":{},\"p99\":{},\"p999\":{},\"max\":{},\"samples\":[{}]}}",
            q(0.5), q(0.9), q(0.99), q(0.999), s[n - 1], list.join(",")
        ));
    }
    fn per_op(&mut self, name: &str, runs: &[f64]) {
        let mut r = runs.to_vec();
        r.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let list: Vec<String> = runs.iter().map(|v| format!("{v:.3}")).collect();
        self.0.push(format!(
            "\"{name}\":{{\"unit\":\"ns/op\",\"value\":{:.3},\"runs\":[{}]}}",
            r[(r.len() - 1) / 2],
            list.join(",")
        ));
    }
    fn scalar(&mut self, name: &str, unit: &str, v: f64) {
        self.0.push(format!("\"{name}\":{{\"unit\":\"{unit}\",\"value\":{v:.3}}}"));
    }
}

extern "C" {
    fn sysconf(name: i32) -> i64;
}

fn rss_bytes() -> i64 {
    const SC_PAGESIZE: i32 = 30; // Linux
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: i64 = s.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    pages * unsafe { sysconf(SC_PAGESIZE) }
}

fn spin_for(ns: u64) {
    let end = now_ns() + ns;
    while now_ns() < end {}
}

#[derive(Default)]
struct Rec {
    started: AtomicBool,
    t_handler: AtomicU64,
}

/// The "handler": Tokio drops an aborted future at its suspension point; this guard's Drop
/// runs then and records the time. Disarmed on normal completion.
struct OnCancel {
    rec: Arc<Rec>,
    armed: bool,
}

impl Drop for OnCancel {
    fn drop(&mut self) {
        if self.armed {
            self.rec.t_handler.store(now_ns(), Relaxed);
        }
    }
}

/// The seed article's worker: sleeps 10 s; cancellation is observed by the Drop guard.
async fn sleeper_worker(rec: Arc<Rec>) -> &'static str {
    let mut guard = OnCancel { rec: rec.clone(), armed: true };
    rec.started.store(true, Relaxed);
    tokio::time::sleep(Duration::from_secs(10)).await;
    guard.armed = false;
    "Finished"
}

async fn s1(p: &Params, m: &mut Metrics) {
    let (mut a, mut b) = (Vec::with_capacity(p.s1_reps), Vec::with_capacity(p.s1_reps));
    for i in 0..p.s1_warmup + p.s1_reps {
        let rec = Arc::new(Rec::default());
        let h = tokio::spawn(sleeper_worker(rec.clone()));
        while !rec.started.load(Relaxed) {
            yield_now().await;
        }
        let t0 = now_ns();
        h.abort();
        let r = h.await;
        let t_join = now_ns();
        assert!(matches!(&r, Err(e) if e.is_cancelled()), "S1: task not cancelled");
        if i >= p.s1_warmup {
            a.push(rec.t_handler.load(Relaxed) - t0);
            b.push(t_join - t0);
        }
    }
    m.latency("S1a", &a);
    m.latency("S1b", &b);
}

async fn per_op_runs<F, Fut>(p: &Params, op: F) -> Vec<f64>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut runs = Vec::new();
    for _ in 0..p.s2_runs {
        let t0 = now_ns();
        for _ in 0..p.s2_yields {
            op().await;
        }
        runs.push((now_ns() - t0) as f64 / p.s2_yields as f64);
    }
    runs
}

/// The normal (stable) build measures `yield_now()`. `consume_budget()` only exists with
/// `--cfg tokio_unstable`, which also turns on Tokio's runtime metrics counters; so that the
/// other numbers never pay for that, a separate build with the flag
/// (bench/out/tokio_bench_unstable, run with `--only S2`) measures S2_checkpoint alone and
/// the runner merges it into tokio's JSON.
#[cfg(not(tokio_unstable))]
async fn s2(p: &Params, m: &mut Metrics) {
    let runs = per_op_runs(p, yield_now).await;
    m.per_op("S2_yield", &runs);
}

#[cfg(tokio_unstable)]
async fn s2(p: &Params, m: &mut Metrics) {
    let runs = per_op_runs(p, tokio::task::consume_budget).await;
    m.per_op("S2_checkpoint", &runs);
}

async fn cpu_worker(rec: Arc<Rec>, spin_ns: u64) {
    let _guard = OnCancel { rec, armed: true };
    loop {
        spin_for(spin_ns);
        yield_now().await;
    }
}

async fn s3(p: &Params, m: &mut Metrics) {
    let mut samples = Vec::new();
    for i in 0..p.s3_warmup + p.s3_reps {
        let rec = Arc::new(Rec::default());
        let h = tokio::spawn(cpu_worker(rec.clone(), p.s3_spin_ns));
        tokio::time::sleep(p.s3_delay).await;
        let t0 = now_ns();
        h.abort();
        let r = h.await;
        assert!(matches!(&r, Err(e) if e.is_cancelled()), "S3: task not cancelled");
        if i >= p.s3_warmup {
            samples.push(rec.t_handler.load(Relaxed) - t0);
        }
    }
    m.latency("S3", &samples);
}

static S4_STARTED: AtomicUsize = AtomicUsize::new(0);

async fn s4(p: &Params, m: &mut Metrics) {
    for &(label, n) in &p.s4_sizes {
        S4_STARTED.store(0, Relaxed);
        let rss0 = rss_bytes();
        let t0 = now_ns();
        let mut handles = Vec::with_capacity(n);
        for _ in 0..n {
            handles.push(tokio::spawn(async {
                S4_STARTED.fetch_add(1, Relaxed);
                tokio::time::sleep(Duration::from_secs(60)).await;
            }));
        }
        while S4_STARTED.load(Relaxed) < n {
            yield_now().await;
        }
        let t1 = now_ns();
        let rss1 = rss_bytes();
        let t2 = now_ns();
        for h in &handles {
            h.abort();
        }
        for h in handles {
            let _ = h.await;
        }
        let t3 = now_ns();
        let nf = n as f64;
        m.scalar(&format!("S4_{label}_spawn"), "ns/task", (t1 - t0) as f64 / nf);
        m.scalar(&format!("S4_{label}_bytes"), "bytes/task", (rss1 - rss0) as f64 / nf);
        m.scalar(&format!("S4_{label}_cancel_join"), "ns", (t3 - t2) as f64);
        m.scalar(&format!("S4_{label}_cancels_per_s"), "1/s", nf / ((t3 - t2) as f64 / 1e9));
        eprintln!(
            "S4 {label}: spawn {:.0} ns/task, {:.0} B/task, cancel+join {:.1} ms",
            (t1 - t0) as f64 / nf,
            (rss1 - rss0) as f64 / nf,
            (t3 - t2) as f64 / 1e6
        );
    }
}

type Handle = JoinHandle<&'static str>;
type Handoff = (Handle, tokio::sync::oneshot::Sender<(Handle, u64)>);

async fn s5(p: &Params, m: &mut Metrics) {
    // The canceller thread: created once; told to go through a std channel (not measured).
    let (go_tx, go_rx) = mpsc::channel::<Handoff>();
    let th = std::thread::spawn(move || {
        while let Ok((h, back)) = go_rx.recv() {
            let t0 = now_ns();
            h.abort();
            let _ = back.send((h, t0));
        }
    });
    let mut samples = Vec::new();
    for i in 0..p.s5_warmup + p.s5_reps {
        let rec = Arc::new(Rec::default());
        let h = tokio::spawn(sleeper_worker(rec.clone()));
        while !rec.started.load(Relaxed) {
            yield_now().await;
        }
        let (back_tx, back_rx) = tokio::sync::oneshot::channel();
        go_tx.send((h, back_tx)).expect("canceller thread gone");
        let (h, t0) = back_rx.await.expect("canceller thread dropped the handle");
        let r = h.await;
        assert!(matches!(&r, Err(e) if e.is_cancelled()), "S5: task not cancelled");
        if i >= p.s5_warmup {
            samples.push(rec.t_handler.load(Relaxed) - t0);
        }
    }
    drop(go_tx);
    th.join().unwrap();
    m.latency("S5", &samples);
}

/// S6 worker: one read_some on the shared server-side stream (cancellation observed by the Drop
/// guard). Returns the byte count and the first byte read.
async fn reader_worker(rec: Arc<Rec>, stream: Arc<TcpStream>) -> std::io::Result<(usize, u8)> {
    let mut guard = OnCancel { rec: rec.clone(), armed: true };
    rec.started.store(true, Relaxed);
    let r = loop {
        if let Err(e) = stream.readable().await {
            break Err(e);
        }
        let mut buf = [0u8; 4096];
        match stream.try_read(&mut buf) {
            Ok(n) => break Ok((n, buf[0])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => break Err(e),
        }
    };
    guard.armed = false;
    r
}

async fn s6(p: &Params, m: &mut Metrics) {
    // Set-up (once): listener on 127.0.0.1:0, one client connection, the server side accepted.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("S6: bind");
    let mut client =
        TcpStream::connect(listener.local_addr().expect("S6: local_addr")).await.expect("S6: connect");
    let server = Arc::new(listener.accept().await.expect("S6: accept").0);
    let mut samples = Vec::with_capacity(p.s6_reps);
    for i in 0..p.s6_warmup + p.s6_reps {
        let rec = Arc::new(Rec::default());
        let h = tokio::spawn(reader_worker(rec.clone(), server.clone()));
        while !rec.started.load(Relaxed) {
            yield_now().await;
        }
        yield_now().await; // once more: the read is really pending
        let t0 = now_ns();
        h.abort();
        let r = h.await;
        assert!(matches!(&r, Err(e) if e.is_cancelled()), "S6 rep {i}: task not cancelled: {r:?}");
        if i >= p.s6_warmup {
            samples.push(rec.t_handler.load(Relaxed) - t0);
        }
    }
    // The socket must still work: the client writes one byte, a last read returns it (bounded by
    // 5 s, so a lost socket fails instead of hanging).
    client.write_all(b"x").await.expect("S6: client write");
    let h = tokio::spawn(reader_worker(Arc::new(Rec::default()), server.clone()));
    match tokio::time::timeout(Duration::from_secs(5), h).await {
        Ok(Ok(Ok((1, b'x')))) => {}
        other => {
            eprintln!(
                "S6: FAILED: the socket is not usable after {} cancelled reads: the last read gave {other:?}",
                p.s6_warmup + p.s6_reps
            );
            std::process::exit(1);
        }
    }
    m.latency("S6", &samples);
}

#[derive(Default)]
struct PoolRec {
    started: AtomicBool,
    t_seen: AtomicU64,
}

/// S7's cancellation handling in the task: when the aborted task's future is dropped, request
/// the blocking job's stop and hand its `JoinHandle` over to the canceller (Drop cannot await
/// it). Disarmed (job = None) once the job has been awaited normally.
struct StopOnDrop {
    stop: Arc<AtomicBool>,
    job: Option<JoinHandle<()>>,
    handoff: Option<oneshot::Sender<JoinHandle<()>>>,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(job) = self.job.take() {
            self.stop.store(true, Release);
            if let Some(tx) = self.handoff.take() {
                let _ = tx.send(job);
            }
        }
    }
}

async fn pool_worker(rec: Arc<PoolRec>, handoff: oneshot::Sender<JoinHandle<()>>) -> &'static str {
    let stop = Arc::new(AtomicBool::new(false));
    let job_stop = stop.clone();
    let job = tokio::task::spawn_blocking(move || {
        rec.started.store(true, Release);
        while !job_stop.load(Acquire) {}
        rec.t_seen.store(now_ns(), Release);
    });
    let mut guard = StopOnDrop { stop, job: Some(job), handoff: Some(handoff) };
    let r = guard.job.as_mut().unwrap().await;
    guard.job = None;
    r.expect("S7: job panicked");
    "Finished"
}

async fn s7(p: &Params, m: &mut Metrics) {
    let (mut a, mut b) = (Vec::with_capacity(p.s7_reps), Vec::with_capacity(p.s7_reps));
    for i in 0..p.s7_warmup + p.s7_reps {
        let rec = Arc::new(PoolRec::default());
        let (job_tx, job_rx) = oneshot::channel();
        let h = tokio::spawn(pool_worker(rec.clone(), job_tx));
        while !rec.started.load(Acquire) {
            yield_now().await;
        }
        let t0 = now_ns();
        h.abort();
        let r = h.await;
        assert!(matches!(&r, Err(e) if e.is_cancelled()), "S7 rep {i}: task not cancelled: {r:?}");
        // No orphan: the rep is over only when the blocking job has returned.
        let job = job_rx.await.expect("S7: the task's Drop guard did not hand the job over");
        job.await.expect("S7: job panicked");
        let t_done = now_ns();
        let t_seen = rec.t_seen.load(Acquire);
        assert!(t_seen != 0 && t_seen <= t_done, "S7 rep {i}: job not finished at the join");
        if i >= p.s7_warmup {
            a.push(t_seen - t0);
            b.push(t_done - t0);
        }
    }
    m.latency("S7a", &a);
    m.latency("S7b", &b);
}

/// Runs the selected scenarios inside a spawned task: in Tokio a task is a `tokio::spawn`ed
/// future; the `block_on` future of `tokio::main` is not one (waking it costs an extra
/// eventfd write + epoll_wait per yield, which would slow Tokio down for no reason).
async fn run_all(quick: bool, only: Vec<String>) -> Vec<String> {
    let p = Params::new(quick);
    let mut m = Metrics::default();
    for name in ["S1", "S2", "S3", "S4", "S5", "S6", "S7"] {
        if !only.iter().any(|o| o == name) {
            continue;
        }
        let t = now_ns();
        match name {
            "S1" => s1(&p, &mut m).await,
            "S2" => s2(&p, &mut m).await,
            "S3" => s3(&p, &mut m).await,
            "S4" => s4(&p, &mut m).await,
            "S5" => s5(&p, &mut m).await,
            "S6" => s6(&p, &mut m).await,
            _ => s7(&p, &mut m).await,
        }
        eprintln!("{name} done in {:.1} s", (now_ns() - t) as f64 / 1e9);
    }
    m.0
}

fn main() {
    now_ns();
    let mut quick = false;
    let mut only: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--quick" {
            quick = true;
        } else if a == "--only" || a.starts_with("--only=") {
            let v = if a == "--only" { args.next().unwrap_or_default() } else { a[7..].to_string() };
            only.extend(v.split(',').filter(|s| !s.is_empty()).map(|s| s.trim().to_uppercase()));
        } else if a == "--echo-server" {
            let workers = args.next().and_then(|v| v.parse().ok()).unwrap_or(1);
            threads::echo_server(workers);
            return;
        } else {
            eprintln!("usage: tokio_bench [--quick] [--only S1,S2,...] | --echo-server WORKERS");
            std::process::exit(2);
        }
    }
    if only.is_empty() {
        only = ["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8"].iter().map(|s| s.to_string()).collect();
    }
    let s8 = only.iter().any(|o| o == "S8");
    // What #[tokio::main(flavor = "current_thread")] expands to.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut metrics = rt.block_on(async {
        tokio::spawn(run_all(quick, only)).await.expect("benchmark task failed")
    });
    drop(rt);
    if s8 && !cfg!(tokio_unstable) {
        let t = now_ns();
        let mut m = Metrics::default();
        threads::s8(&Params::new(quick), &mut m);
        metrics.extend(m.0);
        eprintln!("S8 done in {:.1} s", (now_ns() - t) as f64 / 1e9);
    }
    let unstable = if cfg!(tokio_unstable) { ", --cfg tokio_unstable" } else { "" };
    println!(
        "{{\"runtime\":\"tokio\",\"version\":\"tokio {} ({}, current_thread; S8 multi_thread{unstable})\",\"skipped\":null,\"metrics\":{{{}}}}}",
        env!("BENCH_TOKIO_VERSION"),
        env!("BENCH_RUSTC_VERSION"),
        metrics.join(",")
    );
}
