//! Operating-system calls, kept behind a small internal interface so that the
//! rest of the crate never calls `libc` directly.
//!
//! Linux only for now: eventfd for wake-ups, `pthread_atfork` for detecting a
//! loop used in a forked child.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

/// Runs a libc call and turns `-1` into `io::Error::last_os_error()`.
macro_rules! syscall {
    ($fn: ident ( $($arg: expr),* $(,)* ) ) => {{
        // SAFETY: each caller passes arguments that satisfy the call's contract;
        // see the comment at the call site.
        let res = unsafe { libc::$fn($($arg, )*) };
        if res < 0 { Err(std::io::Error::last_os_error()) } else { Ok(res) }
    }};
}

/// A non-blocking, close-on-exec eventfd used as a level-triggered wake-up:
/// readable while its counter is non-zero.
#[derive(Debug)]
pub(crate) struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub(crate) fn new() -> io::Result<EventFd> {
        // eventfd(2) with no pointer arguments.
        let fd = syscall!(eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC))?;
        // SAFETY: eventfd(2) returned a new, valid descriptor that nothing else owns.
        Ok(EventFd { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Adds one to the counter, making the fd readable.
    pub(crate) fn signal(&self) {
        let one: u64 = 1;
        // write(2) of 8 bytes from a live u64. EAGAIN means the counter is at
        // its maximum, which is still readable: nothing is lost.
        let _ = syscall!(write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8));
    }

    /// Resets the counter to zero (the fd stops being readable).
    pub(crate) fn drain(&self) {
        let mut buf: u64 = 0;
        // read(2) of 8 bytes into a live u64. EAGAIN means it was already zero.
        let _ = syscall!(read(self.fd.as_raw_fd(), (&mut buf as *mut u64).cast(), 8));
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// sendfile(2): up to `count` bytes of `in_fd` from `*offset` to `out_fd`;
/// advances `*offset` by what was sent.
pub(crate) fn sendfile(out_fd: RawFd, in_fd: RawFd, offset: &mut u64, count: usize) -> io::Result<usize> {
    let mut off = libc::off_t::try_from(*offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // sendfile(2) with a live off_t; the descriptors belong to the caller.
    let n = syscall!(sendfile(out_fd, in_fd, &mut off, count))?;
    *offset = off as u64;
    Ok(n as usize)
}

/// Blocks SIGPIPE in the calling thread (a reactor thread squall
/// spawned): a write to a connection the peer reset (writev, sendfile, a
/// TLS record) then fails with EPIPE instead of raising a signal whose
/// default action ends the process. The host's program may not ignore
/// SIGPIPE: a Go program does not, and a signal raised on a thread Go did
/// not create kills it. The signal stays pending on this thread, harmless.
pub(crate) fn block_sigpipe() {
    if cfg!(miri) {
        // Miri has no signals (nor sockets to raise one)
        return;
    }
    // SAFETY: a zeroed sigset_t filled by sigemptyset/sigaddset, and a NULL
    // old set; pthread_sigmask only changes the calling thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);
static ATFORK: Once = Once::new();

extern "C" fn on_fork_child() {
    FORK_GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// How many times this process is a forked child of a process that had
/// loaded squall (0 in the original process). A loop records the value when it
/// starts; a different value later means it is being used after `fork(2)`.
pub(crate) fn fork_generation() -> u64 {
    ATFORK.call_once(|| {
        // SAFETY: pthread_atfork(3) with a child handler that only touches an
        // atomic (async-signal-safe); glibc unregisters it if the library is
        // unloaded.
        let _ = unsafe { libc::pthread_atfork(None, None, Some(on_fork_child)) };
    });
    FORK_GENERATION.load(Ordering::SeqCst)
}


/// Checks that `fd` is a listening TCP socket and wraps it, taking ownership
/// only on success (on failure the caller still owns `fd`).
pub(crate) fn adopt_tcp_listener(fd: RawFd) -> io::Result<std::net::TcpListener> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("fd {fd} is not {what}"));
    if fd < 0 {
        return Err(bad("a descriptor"));
    }
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value`/`len` are valid out-parameters of the size given.
    syscall!(getsockopt(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN, (&mut value as *mut libc::c_int).cast(), &mut len))
        .map_err(|_| bad("a socket"))?;
    if value == 0 {
        return Err(bad("a listening socket (call listen(2) first)"));
    }
    let mut ty: libc::c_int = 0;
    // SAFETY: as above.
    syscall!(getsockopt(fd, libc::SOL_SOCKET, libc::SO_TYPE, (&mut ty as *mut libc::c_int).cast(), &mut len))?;
    let mut domain: libc::c_int = 0;
    // SAFETY: as above.
    syscall!(getsockopt(fd, libc::SOL_SOCKET, libc::SO_DOMAIN, (&mut domain as *mut libc::c_int).cast(), &mut len))?;
    if ty != libc::SOCK_STREAM || (domain != libc::AF_INET && domain != libc::AF_INET6) {
        return Err(bad("a TCP socket"));
    }
    // SAFETY: `fd` is an open listening TCP socket (checked above) whose
    // ownership the caller hands over with this call.
    Ok(unsafe { std::net::TcpListener::from_raw_fd(fd) })
}

/// The tests' readiness probe: whether `fd` is readable now (`timeout_ms`
/// 0) or becomes so within `timeout_ms`, asked through an epoll set of its
/// own. epoll rather than poll(2) so that the tests using it also run under
/// Miri, which emulates epoll (edge-triggered only) and has no poll. Edge
/// triggering answers as level triggering would here: a descriptor added to
/// a fresh set is reported if it is readable at that moment.
#[cfg(test)]
pub(crate) fn readable_within(fd: RawFd, timeout_ms: i32) -> bool {
    // epoll_create1(2) with no pointer arguments.
    let ep = syscall!(epoll_create1(libc::EPOLL_CLOEXEC)).expect("epoll_create1");
    // SAFETY: epoll_create1 returned a new, valid descriptor that nothing else owns.
    let ep = unsafe { OwnedFd::from_raw_fd(ep) };
    let mut ev = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLET) as u32, u64: 0 };
    // epoll_ctl(2) with a live epoll_event.
    syscall!(epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev)).expect("epoll_ctl");
    let mut out = [libc::epoll_event { events: 0, u64: 0 }];
    // epoll_wait(2) into a live array of one event.
    let n = syscall!(epoll_wait(ep.as_raw_fd(), out.as_mut_ptr(), 1, timeout_ms)).expect("epoll_wait");
    n == 1 && out[0].events & libc::EPOLLIN as u32 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(fd: RawFd) -> bool {
        readable_within(fd, 0)
    }

    #[test]
    fn eventfd_is_level_triggered() {
        let e = EventFd::new().unwrap();
        assert!(!readable(e.raw()));
        e.signal();
        assert!(readable(e.raw()));
        assert!(readable(e.raw()), "stays readable until drained");
        e.signal();
        e.drain();
        assert!(!readable(e.raw()));
        e.drain();
        assert!(!readable(e.raw()));
    }

    #[test]
    fn fork_generation_is_stable_in_one_process() {
        let a = fork_generation();
        assert_eq!(a, fork_generation());
    }
}
