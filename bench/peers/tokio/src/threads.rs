//! Tokio's side of the threads scenarios of bench/PROTOCOL.md: S8 (a task cancelled by a task
//! that may run on another worker thread; `Handle::spawn` from foreign threads) and the echo
//! server of the echo scenario. Each builds its own multi-thread runtime (`main.rs` runs S1..S7
//! on a `current_thread` one).
//!
//! S8a/S8b: a multi-thread runtime with 2 worker threads; the canceller is a spawned task, the
//! sleeping task is `tokio::spawn`ed by it, cancel = `JoinHandle::abort()`, join = awaiting the
//! handle; the handler time is taken in a `Drop` guard of the future (as in S1). Tokio decides
//! where each task runs (work stealing; a task spawned by a worker starts in that worker's LIFO
//! slot), so `S8_cross_thread` counts the reps whose guard ran on another thread than the
//! canceller's `abort()`.
//! S8_post_*: "run this on the runtime" from a foreign thread is `Handle::spawn`; the runtime is
//! a multi-thread one with 1 worker (a runtime running on its own thread, as a uvtask loop of a
//! LoopGroup(1)). The round trip's foreign thread blocks in `std::thread::park()` (a futex) until
//! the task has set the flag and `unpark()`ed it.
//! Echo: Tokio's own echo example (`TcpListener::accept` in a loop, one spawned task per
//! connection, `read` into a 4096-byte buffer + `write_all`) on 1 or 2 worker threads.

use crate::{now_ns, Metrics, Params};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Acquire, Ordering::Relaxed,
    Ordering::Release};
use std::sync::{Arc, Barrier};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::{Builder, Runtime};
use tokio::task::yield_now;

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);
thread_local! {
    static THREAD: u64 = NEXT_THREAD.fetch_add(1, Relaxed);
}

fn thread_number() -> u64 {
    THREAD.with(|t| *t)
}

fn runtime(workers: usize) -> Runtime {
    Builder::new_multi_thread().worker_threads(workers).enable_all().build().expect("runtime")
}

#[derive(Default)]
struct Rec {
    started: AtomicBool,
    t_handler: AtomicU64,
    handler_thread: AtomicU64,
}

/// The "handler" (see main.rs's `OnCancel`), which also records the thread it ran on.
struct OnCancel {
    rec: Arc<Rec>,
    armed: bool,
}

impl Drop for OnCancel {
    fn drop(&mut self) {
        if self.armed {
            self.rec.t_handler.store(now_ns(), Release);
            self.rec.handler_thread.store(thread_number(), Release);
        }
    }
}

async fn sleeper_worker(rec: Arc<Rec>) -> &'static str {
    let mut guard = OnCancel { rec: rec.clone(), armed: true };
    rec.started.store(true, Release);
    tokio::time::sleep(Duration::from_secs(10)).await;
    guard.armed = false;
    "Finished"
}

async fn canceller(warmup: usize, reps: usize) -> (Vec<u64>, Vec<u64>, usize) {
    let (mut a, mut b, mut cross) = (Vec::with_capacity(reps), Vec::with_capacity(reps), 0);
    for i in 0..warmup + reps {
        let rec = Arc::new(Rec::default());
        let h = tokio::spawn(sleeper_worker(rec.clone()));
        while !rec.started.load(Acquire) {
            yield_now().await;
        }
        let me = thread_number();
        let t0 = now_ns();
        h.abort();
        let r = h.await;
        let t_join = now_ns();
        assert!(matches!(&r, Err(e) if e.is_cancelled()), "S8: task not cancelled");
        if i >= warmup {
            a.push(rec.t_handler.load(Acquire) - t0);
            b.push(t_join - t0);
            cross += usize::from(rec.handler_thread.load(Acquire) != me);
        }
    }
    (a, b, cross)
}

fn s8_cancel(p: &Params, m: &mut Metrics) {
    let rt = runtime(2);
    let (warmup, reps) = (p.s1_warmup, p.s1_reps);
    let (a, b, cross) = rt.block_on(async move {
        tokio::spawn(canceller(warmup, reps)).await.expect("S8: canceller failed")
    });
    m.latency("S8a", &a);
    m.latency("S8b", &b);
    m.scalar("S8_cross_thread", "reps", cross as f64);
    eprintln!("S8: the handler ran on another thread than abort() in {cross} of {reps} reps");
}

fn post_rtt(rt: &Runtime, p: &Params, m: &mut Metrics) {
    let handle = rt.handle().clone();
    let mut samples = Vec::with_capacity(p.s1_reps);
    for i in 0..p.s1_warmup + p.s1_reps {
        let done = Arc::new(AtomicBool::new(false));
        let (flag, me) = (done.clone(), std::thread::current());
        let t0 = now_ns();
        handle.spawn(async move {
            flag.store(true, Release);
            me.unpark();
        });
        while !done.load(Acquire) {
            std::thread::park();
        }
        let t1 = now_ns();
        if i >= p.s1_warmup {
            samples.push(t1 - t0);
        }
    }
    m.latency("S8_post_rtt", &samples);
}

struct Delivery {
    delivered: AtomicUsize,
    total: usize,
    t_end: AtomicU64,
    done: AtomicBool,
    waiter: std::thread::Thread,
}

fn post_throughput(rt: &Runtime, threads: usize, per_thread: usize, name: &str, m: &mut Metrics) {
    let d = Arc::new(Delivery {
        delivered: AtomicUsize::new(0),
        total: threads * per_thread,
        t_end: AtomicU64::new(0),
        done: AtomicBool::new(false),
        waiter: std::thread::current(),
    });
    let barrier = Arc::new(Barrier::new(threads + 1));
    let posters: Vec<_> = (0..threads)
        .map(|_| {
            let (handle, d, barrier) = (rt.handle().clone(), d.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..per_thread {
                    let d = d.clone();
                    handle.spawn(async move {
                        if d.delivered.fetch_add(1, Relaxed) + 1 == d.total {
                            d.t_end.store(now_ns(), Relaxed);
                            d.done.store(true, Release); // publishes t_end
                            d.waiter.unpark();
                        }
                    });
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(10)); // the posters are at the barrier
    let t0 = now_ns();
    barrier.wait();
    while !d.done.load(Acquire) {
        std::thread::park();
    }
    for t in posters {
        t.join().expect("poster thread panicked");
    }
    let elapsed = (d.t_end.load(Relaxed) - t0) as f64;
    m.scalar(name, "posts/s", d.total as f64 / (elapsed / 1e9));
}

/// S8: the cross-thread cancel, then `Handle::spawn` from foreign threads.
pub fn s8(p: &Params, m: &mut Metrics) {
    s8_cancel(p, m);
    let rt = runtime(1);
    post_rtt(&rt, p, m);
    post_throughput(&rt, 1, p.post_count, "S8_post_1thread", m);
    post_throughput(&rt, 2, p.post_count, "S8_post_2threads", m);
}

/// `tokio_bench --echo-server N`: Tokio's echo example on N worker threads, on a free port of
/// 127.0.0.1 (printed as "listening on 127.0.0.1:PORT"), until the process is killed.
pub fn echo_server(workers: usize) {
    runtime(workers).block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("echo: bind");
        println!("listening on {} with {workers} worker threads", listener.local_addr().unwrap());
        use std::io::Write;
        std::io::stdout().flush().expect("echo: stdout");
        loop {
            let (mut socket, _) = listener.accept().await.expect("echo: accept");
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                loop {
                    let n = match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if socket.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    })
}
