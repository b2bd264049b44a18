//! Name resolution off the reactor: `getaddrinfo` blocks, so it runs on a
//! small pool of threads (at most [`MAX_THREADS`], started when needed, gone
//! after [`IDLE_EXIT`] without work) and the answer comes back through the
//! caller's closure — which sends it to its reactor as a command. Literal
//! addresses never leave the caller's thread.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

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

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
    /// The process the counts belong to (threads do not survive fork()).
    fork_generation: u64,
}

struct Pool {
    state: Mutex<State>,
    ready: Condvar,
}

static POOL: Pool = Pool {
    state: Mutex::new(State { queue: VecDeque::new(), threads: 0, idle: 0, fork_generation: 0 }),
    ready: Condvar::new(),
};

fn lock() -> MutexGuard<'static, State> {
    POOL.state.lock().unwrap_or_else(|p| p.into_inner())
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
    if st.fork_generation != generation {
        // A child after fork(): none of the parent's threads are here.
        st.fork_generation = generation;
        st.threads = 0;
        st.idle = 0;
    }
    st.queue.push_back(job);
    if st.idle >= st.queue.len() {
        POOL.ready.notify_one();
        return;
    }
    if st.threads < MAX_THREADS {
        let spawned = std::thread::Builder::new().name("squall-resolve".into()).spawn(worker);
        match spawned {
            Ok(_) => st.threads += 1,
            Err(e) if st.threads == 0 => {
                // No thread to run it: fail the lookup rather than hang it.
                let job = st.queue.pop_back();
                drop(st);
                if let Some(job) = job {
                    (job.reply)(Err(io::Error::other(format!("cannot start a resolver thread: {e}"))));
                }
                return;
            }
            Err(_) => {}
        }
    }
    POOL.ready.notify_one();
}

fn lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address")));
    }
    Ok(addrs)
}

fn worker() {
    let mut st = lock();
    loop {
        if let Some(job) = st.queue.pop_front() {
            drop(st);
            let result = lookup(&job.host, job.port);
            let reply = job.reply;
            if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || reply(result))) {
                tracing::error!(target: "squall::net", "a resolver reply panicked: {}", crate::error::panic_message(&p));
            }
            st = lock();
            continue;
        }
        st.idle += 1;
        let (guard, waited) = POOL.ready.wait_timeout(st, IDLE_EXIT).unwrap_or_else(|p| p.into_inner());
        st = guard;
        st.idle -= 1;
        if waited.timed_out() && st.queue.is_empty() {
            st.threads -= 1;
            return;
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
