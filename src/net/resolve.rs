//! Name resolution off the reactor: `getaddrinfo` blocks, so it runs on a
//! small pool of threads (at most [`MAX_THREADS`], started when needed, gone
//! after [`IDLE_EXIT`] without work) and the answer comes back through the
//! caller's closure — which sends it to its reactor as a command. Literal
//! addresses never leave the caller's thread.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

/// Resolver threads at most: lookups beyond wait their turn.
pub(crate) const MAX_THREADS: usize = 4;
/// A resolver thread with nothing to do for this long ends.
const IDLE_EXIT: Duration = Duration::from_secs(10);

type Reply = Box<dyn FnOnce(io::Result<Vec<SocketAddr>>) + Send>;

struct Job {
    host: String,
    port: u16,
    reply: Reply,
}

struct State {
    /// The hand-off to the threads, made on first use (and again in a child
    /// after fork()).
    jobs: Option<(Sender<Job>, Receiver<Job>)>,
    threads: usize,
    /// Threads waiting for a job, or about to: jobs beyond them need a thread.
    idle: usize,
    /// The process the counts belong to (threads do not survive fork()).
    fork_generation: u64,
}

/// The counts are kept under a lock (not in atomics) so that deciding to
/// start a thread and a thread deciding to end never cross: a job is never
/// left in the channel with no thread to take it.
static POOL: Mutex<State> = Mutex::new(State { jobs: None, threads: 0, idle: 0, fork_generation: 0 });

fn lock() -> MutexGuard<'static, State> {
    POOL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The address of a literal host ("127.0.0.1", "::1", "[::1]"), if it is one.
pub(crate) fn literal(host: &str, port: u16) -> Option<SocketAddr> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    bare.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, port))
}

/// Resolves `host:port` and calls `reply` with every address, IPv4 and IPv6
/// in the system's order. `reply` runs on a resolver thread, or on the
/// caller's for a literal address; it must be quick (send a command).
pub(crate) fn resolve(host: &str, port: u16, reply: impl FnOnce(io::Result<Vec<SocketAddr>>) + Send + 'static) {
    if let Some(addr) = literal(host, port) {
        reply(Ok(vec![addr]));
        return;
    }
    let job = Job { host: host.to_owned(), port, reply: Box::new(reply) };
    let mut st = lock();
    let generation = super::sys::fork_generation();
    if st.jobs.is_none() || st.fork_generation != generation {
        // First use, or a child after fork(): none of the parent's threads
        // are here, and a channel they waited on could spend a wake-up on one
        // of them. A fresh channel; lookups still pending move over.
        let (tx, rx) = crossbeam_channel::unbounded();
        if let Some((_, old)) = st.jobs.take() {
            old.try_iter().for_each(|job| drop(tx.send(job)));
        }
        st.jobs = Some((tx, rx));
        st.fork_generation = generation;
        st.threads = 0;
        st.idle = 0;
    }
    let Some((tx, rx)) = &st.jobs else { unreachable!("made above") };
    // Unbounded, and `st` holds a receiver: the send cannot fail.
    let _ = tx.send(job);
    let rx = rx.clone();
    if let Err(e) = grow(&mut st) {
        if st.threads == 0 {
            // No thread to run it: fail the lookup rather than hang it.
            let job = rx.try_recv().ok();
            drop(st);
            if let Some(job) = job {
                (job.reply)(Err(io::Error::other(format!("cannot start a resolver thread: {e}"))));
            }
        }
    }
}

/// Starts a thread when the jobs waiting outnumber the idle threads and the
/// cap allows one more. The new thread counts as idle until it has a job.
fn grow(st: &mut State) -> io::Result<()> {
    let Some((_, rx)) = &st.jobs else { return Ok(()) };
    if st.idle >= rx.len() || st.threads >= MAX_THREADS {
        return Ok(());
    }
    let rx = rx.clone();
    std::thread::Builder::new().name("squall-resolve".into()).spawn(move || worker(rx))?;
    st.threads += 1;
    st.idle += 1;
    Ok(())
}

fn lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address")));
    }
    Ok(addrs)
}

fn worker(jobs: Receiver<Job>) {
    loop {
        let got = jobs.recv_timeout(IDLE_EXIT);
        let mut st = lock();
        st.idle -= 1;
        match got {
            Ok(job) => {
                // A job sent after this thread took its own, but before it
                // stopped counting as idle, was promised to it: see that it
                // gets a thread.
                let _ = grow(&mut st);
                drop(st);
                let result = lookup(&job.host, job.port);
                let reply = job.reply;
                if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || reply(result))) {
                    tracing::error!(target: "squall::net", "a resolver reply panicked: {}", crate::error::panic_message(&p));
                }
                lock().idle += 1;
            }
            // A job sent just as the wait ended is taken on the next turn.
            Err(RecvTimeoutError::Timeout) if !jobs.is_empty() => st.idle += 1,
            Err(_) => {
                st.threads -= 1;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn literals_stay_on_the_calling_thread() {
        assert_eq!(literal("[::1]", 80), Some("[::1]:80".parse().unwrap()));
        assert_eq!(literal("127.0.0.1", 8), Some("127.0.0.1:8".parse().unwrap()));
        assert_eq!(literal("localhost", 8), None);
        let me = std::thread::current().id();
        let (tx, rx) = mpsc::channel();
        resolve("127.0.0.1", 1, move |r| tx.send((std::thread::current().id(), r.unwrap())).unwrap());
        let (id, addrs) = rx.recv().unwrap();
        assert_eq!(id, me);
        assert_eq!(addrs, vec!["127.0.0.1:1".parse().unwrap()]);
    }

    #[test]
    fn names_resolve_on_pool_threads_and_failures_come_back() {
        let (tx, rx) = mpsc::channel();
        for _ in 0..12 {
            let tx = tx.clone();
            resolve("localhost", 80, move |r| tx.send(r.map(|a| a.iter().all(|a| a.ip().is_loopback()))).unwrap());
        }
        let tx2 = tx.clone();
        resolve("no-such-host.invalid", 80, move |r| tx2.send(r.map(|_| true)).unwrap());
        let results: Vec<_> = (0..13).map(|_| rx.recv_timeout(Duration::from_secs(30)).unwrap()).collect();
        assert_eq!(results.iter().filter(|r| matches!(r, Ok(true))).count(), 12);
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        assert!(lock().threads <= MAX_THREADS);
    }
}
