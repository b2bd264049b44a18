//! The C ABI. Everything here is exported with `sq_`/`SQ_` names and
//! described in the generated header `include/squall.h`; one file per object.
//!
//! Conventions (repeated in the header's preamble):
//! * Functions return `sq_status`: `SQ_OK` (0) or a negative `SQ_ERR_*` code.
//!   Constructors return NULL on failure. Functions that return an fd or a
//!   count return a negative `sq_status` on failure.
//! * `sq_last_error()` describes the calling thread's last failure.
//! * Out-parameters are written only on success.
//! * When a function that takes a callback returns an error, that callback
//!   will never be called.
//! * Whatever the host creates with `sq_X_new` it frees with `sq_X_free`;
//!   `sq_X_free(NULL)` is a harmless no-op.
//! * No panic crosses the boundary: every export runs inside `ffi_boundary!`.
//! * Every function's doc says which thread may call it (`Thread:`), who owns
//!   what (`Ownership:`) and what it returns (`Returns:`).
#![allow(non_camel_case_types)]
#![allow(clippy::not_unsafe_ptr_arg_deref)]

pub(crate) mod boundary;
pub mod cluster;
pub mod event_loop;
pub mod fetch;
pub mod log;
pub mod metrics;
pub mod request;
pub mod server;
pub mod status;
// Declared here, after `status`: cbindgen writes the header in the order
// modules are declared, and these functions followed the status codes.
pub mod version;
pub mod tcp;
pub mod tls;
pub mod ws;
#[cfg(test)]
mod tests;

/// The ABI version this library implements (`SQ_ABI_VERSION` in the header).
/// Bumped only on a change that breaks existing binaries; see docs/ABI.md.
pub(crate) const ABI_VERSION: u32 = 1;

pub use cluster::*;
pub use event_loop::*;
pub use fetch::*;
pub use log::*;
pub use request::*;
pub use server::*;
pub use status::*;
pub use tcp::*;
pub use tls::*;
pub use version::*;
pub use ws::*;
