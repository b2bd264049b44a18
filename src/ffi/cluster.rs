//! `sq_cluster`: topics across processes through a broker (Redis).

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::boundary::{Castable, fail, ffi_boundary, ffi_try, into_ptr, str_arg, take_box, try_ref};
use super::event_loop::sq_loop;
use super::server::sq_server;
use super::status::{SQ_OK, sq_status};
use crate::cluster::{Cluster, ClusterEvents, ClusterState};
use crate::{Error, ErrorKind};

/// A cluster: the topics of the servers attached to it span every process
/// attached to the same broker and channel prefix.
///
/// Lifecycle: `sq_cluster_new(loop, url)` → `sq_cluster_attach(cluster,
/// server)` for each server whose topics should span processes →
/// optionally `sq_cluster_on_state` → run the loop (the cluster connects
/// once the loop has started) → `sq_cluster_free` (before the loop is
/// freed). `sq_publish` on an attached server delivers to the local
/// subscribers first, never waiting on the broker, then publishes through
/// the broker; messages from other processes fan out to local subscribers
/// exactly as local publishes do. docs/ARCHITECTURE.md ("Topics across
/// processes") says what is promised and what is counted.
#[derive(Debug)]
pub struct sq_cluster {
    _private: [u8; 0],
}

/// The Rust side of an `sq_cluster`: the cluster and the flag that stops
/// state callbacks once it is freed.
#[derive(Debug)]
pub(crate) struct ClusterBox {
    cluster: Cluster,
    alive: Arc<AtomicBool>,
}

impl Castable for sq_cluster {
    type Rust = ClusterBox;
}

/// Cluster state: not connected yet.
pub const SQ_CLUSTER_CONNECTING: c_int = 0;
/// Cluster state: connected to the broker (first time).
pub const SQ_CLUSTER_CONNECTED: c_int = 1;
/// Cluster state: a broker connection was lost or could not be made; local
/// delivery goes on, publishes wait in the outbox, messages from other
/// processes may be missed.
pub const SQ_CLUSTER_LOST: c_int = 2;
/// Cluster state: connected again after `SQ_CLUSTER_LOST`, resubscribed,
/// the outbox being replayed. The application may resync.
pub const SQ_CLUSTER_RESYNCED: c_int = 3;
/// Not a state but an event for the state callback: messages published by
/// another process were missed (its sequence jumped; counter "gaps").
pub const SQ_CLUSTER_GAP: c_int = 4;

/// The cluster-state callback: `state` is one of the `SQ_CLUSTER_*`
/// values. Runs on the loop's host thread.
pub type sq_cluster_state_callback = Option<unsafe extern "C" fn(userdata: *mut c_void, state: c_int)>;

struct CEvents {
    f: unsafe extern "C" fn(*mut c_void, c_int),
    userdata: *mut c_void,
    alive: Arc<AtomicBool>,
}
// SAFETY: squall never dereferences `userdata`; it hands it back to the
// host's callback on the host thread.
unsafe impl Send for CEvents {}
// SAFETY: as above; shared only to be read.
unsafe impl Sync for CEvents {}

impl ClusterEvents for CEvents {
    fn on_state(&self, state: ClusterState) {
        if self.alive.load(Ordering::Acquire) {
            // SAFETY: the host's callback with its userdata, on the host thread.
            unsafe { (self.f)(self.userdata, state as c_int) };
        }
    }
}

/// Creates a cluster on `loop` reached through `url`:
/// `redis://[[user]:password@]host[:port][/db][?option=value&...]`, with
/// options `prefix` (channels are `<prefix>:<topic>`; default `squall`),
/// `outbox` (publishes held while Redis is away or slow; default 10000),
/// `max_message` (largest message accepted from the broker, in bytes;
/// default 16 MiB), `ping_ms` (idle time before a PING; default 1000) and
/// `timeout_ms` (a PING unanswered or a connect not done this long drops
/// the connection; default 3000). `rediss://` is Redis over TLS: the
/// server's certificate is verified against the webpki roots, or only
/// against the PEM file of option `ca`; options `cert` and `key` (PEM files,
/// both or neither) present a client certificate. There is no option that
/// skips verification. Nothing is connected before the loop starts; a
/// broker that cannot be reached (or whose certificate does not verify) is
/// retried with backoff and logged, never an error here.
///
/// Thread: any thread.
/// Ownership: `url` is copied; the files it names are read during the call. The caller owns the cluster and frees it with
/// `sq_cluster_free`, before freeing the loop.
/// Returns: the cluster, or NULL with `sq_last_error()` saying why (a URL
/// that does not parse or names an unknown option, another scheme, a TLS
/// file named by `ca`, `cert` or `key` that cannot be read or used, a NULL
/// argument, a freed loop).
#[unsafe(no_mangle)]
pub extern "C" fn sq_cluster_new(r#loop: *mut sq_loop, url: *const c_char) -> *mut sq_cluster {
    ffi_boundary! {
        let lp = try_ref!(sq_loop, r#loop, "loop");
        // SAFETY: NUL-terminated string per the API contract.
        let url = ffi_try!(unsafe { str_arg(url, "url") });
        let cluster = ffi_try!(Cluster::new(lp.handle(), url));
        into_ptr::<sq_cluster>(ClusterBox { cluster, alive: Arc::new(AtomicBool::new(true)) })
    }
}

/// Makes `cluster` carry the topics of `server` (a server of the same
/// loop): its topics' subscriptions become the cluster's, its publishes go
/// to the other processes too. A server has one cluster at most; attaching
/// another replaces it. Attaching twice is a no-op. A publish on any
/// attached server reaches the subscribers of every attached server of this
/// process (and of the other processes) once: publish on one of them.
///
/// Thread: any thread.
/// Ownership: neither object is taken; the cluster holds the server weakly.
/// Free the cluster before the server or after it, either works.
/// Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` when they belong to different
/// loops; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_cluster_attach(cluster: *mut sq_cluster, server: *mut sq_server) -> sq_status {
    ffi_boundary! {
        let c = try_ref!(sq_cluster, cluster, "cluster");
        let s = try_ref!(sq_server, server, "server");
        ffi_try!(c.cluster.attach(&s.shared));
        SQ_OK
    }
}

/// Sets the callback told of state changes (`SQ_CLUSTER_CONNECTED`,
/// `SQ_CLUSTER_LOST`, `SQ_CLUSTER_RESYNCED`) and of gaps
/// (`SQ_CLUSTER_GAP`); NULL removes it. Each change is told once, in order.
///
/// Thread: any thread; the callback runs on the host thread.
/// Ownership: squall keeps `userdata` (never dereferenced) until the next
/// call of this function or `sq_cluster_free`; no callback runs after
/// `sq_cluster_free` returns.
/// Returns: `SQ_OK`; `SQ_ERR_NULL` for a NULL cluster.
#[unsafe(no_mangle)]
pub extern "C" fn sq_cluster_on_state(cluster: *mut sq_cluster, cb: sq_cluster_state_callback, userdata: *mut c_void) -> sq_status {
    ffi_boundary! {
        let c = try_ref!(sq_cluster, cluster, "cluster");
        let events = cb.map(|f| Arc::new(CEvents { f, userdata, alive: c.alive.clone() }) as Arc<dyn ClusterEvents>);
        c.cluster.set_events(events);
        SQ_OK
    }
}

/// The cluster's state now: `SQ_CLUSTER_CONNECTING`, `SQ_CLUSTER_CONNECTED`,
/// `SQ_CLUSTER_LOST` or `SQ_CLUSTER_RESYNCED`.
///
/// Thread: any thread.
/// Ownership: nothing is kept.
/// Returns: the state (≥ 0); `SQ_ERR_NULL` for a NULL cluster.
#[unsafe(no_mangle)]
pub extern "C" fn sq_cluster_state(cluster: *mut sq_cluster) -> c_int {
    ffi_boundary! {
        let c = try_ref!(sq_cluster, cluster, "cluster");
        c.cluster.state() as c_int
    }
}

/// A counter of the cluster, by name: "published" (sent towards the
/// broker), "outbox_full" (publishes refused, `SQ_ERR_LIMIT`), "outbox"
/// (publishes waiting now), "received" (messages from the broker),
/// "delivered" (of those, fanned out here), "echo" (this process's own,
/// ignored), "gaps" (messages of other processes missed), "repeats"
/// (replays dropped), "junk" (not squall's), "oversized" (over
/// `max_message`), "bad_topic" (a channel that is no squall topic),
/// "reconnects", "subscribed" (channels heard now).
///
/// Thread: any thread.
/// Ownership: `name` is read during the call.
/// Returns: the value (≥ 0); `SQ_ERR_NOT_FOUND` for an unknown name;
/// `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_cluster_counter(cluster: *mut sq_cluster, name: *const c_char) -> i64 {
    ffi_boundary! {
        let c = try_ref!(sq_cluster, cluster, "cluster");
        // SAFETY: NUL-terminated string per the API contract.
        let name = ffi_try!(unsafe { str_arg(name, "name") });
        match c.cluster.counter(name) {
            Some(v) => i64::try_from(v).unwrap_or(i64::MAX),
            None => fail(Error::new(ErrorKind::NotFound, format!("no cluster counter named {name:?}"))),
        }
    }
}

/// Frees a cluster: the attached servers' topics are local again, the
/// broker connections close, and no state callback runs afterwards.
/// Publishes still in the outbox are dropped. NULL is a harmless no-op.
///
/// Thread: the host thread.
/// Ownership: takes the cluster back; the pointer must not be used again.
/// The state callback's userdata may be freed once this returns.
/// Returns: nothing.
#[unsafe(no_mangle)]
pub extern "C" fn sq_cluster_free(cluster: *mut sq_cluster) {
    ffi_boundary! {
        // SAFETY: NULL or a live cluster from sq_cluster_new, handed back.
        if let Some(c) = unsafe { take_box::<sq_cluster>(cluster) } {
            c.alive.store(false, Ordering::Release);
            drop(c);
        }
    }
}
