//! The crate's error type. Each kind maps to one stable `sq_status` code of the
//! C ABI (see `ffi::status`).

use std::borrow::Cow;
use std::fmt;

/// What went wrong, in a form that maps one-to-one onto the C status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A required pointer argument was NULL.
    Null,
    /// An argument was out of range or malformed.
    InvalidArg,
    /// The object is closed (the loop is stopping, the peer went away).
    Closed,
    /// The operation was already done (a timer that fired or was cancelled).
    AlreadyDone,
    /// An operating-system call failed.
    Io,
    /// A configured limit was reached.
    Limit,
    /// A panic was caught inside the library.
    Panic,
    /// Called from inside a callback of the same loop where that is not allowed.
    Reentrant,
    /// Another thread is already driving the loop.
    Busy,
    /// The loop was started before `fork(2)` and cannot be used in the child.
    Forked,
    /// The object is in the wrong state for this call (an option set after start).
    State,
    /// The thing asked for is not there (a header, an argument).
    NotFound,
    /// The operation did not finish in the time allowed.
    Timeout,
    /// A host name did not resolve.
    Resolve,
    /// A connection could not be established (refused, unreachable).
    Connect,
    /// A TLS handshake or TLS record failed.
    Tls,
    /// The peer broke the protocol.
    Protocol,
    /// The operation was cancelled by its caller (a fetch, `sq_fetch_cancel`).
    Cancelled,
}

/// An error: a kind and a human-readable message.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    message: Cow<'static, str>,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Error {
        Error { kind, message: message.into() }
    }

    /// The error's kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The error's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn io(context: &str, err: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, format!("{context}: {err}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// The text of a caught panic's payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
