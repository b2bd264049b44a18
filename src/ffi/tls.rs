//! `sq_tls_config`: a server's TLS (certificates and keys from PEM, chosen
//! by SNI), handed to a server with `sq_server_set_tls`.

use std::ffi::c_char;
use std::sync::Mutex;

use super::boundary::{Castable, fail, fail_null, ffi_boundary, ffi_try, into_ptr, str_arg, take_box, try_ref};
use super::server::sq_server;
use super::status::{SQ_OK, sq_status};
use super::ws::{known_prefix, read_versioned};
use crate::net::tls_server::ServerTls;
use crate::{Error, ErrorKind};

/// A server's TLS configuration: certificate chains with their keys, and
/// options. Made with `sq_tls_config_new`, filled with
/// `sq_tls_config_add_cert_file` / `sq_tls_config_add_cert_pem`, given to
/// servers with `sq_server_set_tls` (which copies what it needs: the config
/// may be changed or freed afterwards), freed with `sq_tls_config_free`.
#[derive(Debug)]
pub struct sq_tls_config {
    _private: [u8; 0],
}

impl Castable for sq_tls_config {
    type Rust = Mutex<ServerTls>;
}

/// Options of a TLS configuration. Fill it with
/// `sq_tls_options_init(&o, sizeof o)`, then change what you need. Every
/// field is 8 bytes wide, so that `size` always ends on a field.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sq_tls_options {
    /// `sizeof(sq_tls_options)` as the program was compiled (set by init).
    pub size: usize,
    /// 1: TLS 1.3 only; 0 (the default): TLS 1.2 and 1.3.
    pub tls13_only: u64,
    /// 1 (the default): session resumption by tickets (TLS 1.2 and 1.3);
    /// 0: full handshakes only.
    pub tickets: u64,
}

const _: () = assert!(std::mem::size_of::<sq_tls_options>() == 3 * 8);

fn default_options() -> sq_tls_options {
    sq_tls_options { size: std::mem::size_of::<sq_tls_options>(), tls13_only: 0, tickets: 1 }
}

/// Fills `options` with the defaults and sets its `size`. Pass
/// `sizeof(sq_tls_options)` as the program sees it: a newer library writes
/// no more than that.
///
/// Thread: any thread.
/// Ownership: writes at most `size` bytes into the caller's struct.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` when `size` is
/// smaller than the `size` field itself.
#[unsafe(no_mangle)]
pub extern "C" fn sq_tls_options_init(options: *mut sq_tls_options, size: usize) -> sq_status {
    ffi_boundary! {
        if options.is_null() {
            return fail_null("options");
        }
        let n = known_prefix::<sq_tls_options>(size);
        if n == 0 {
            return fail(Error::new(ErrorKind::InvalidArg, "size is smaller than the struct's size field"));
        }
        let o = sq_tls_options { size: n, ..default_options() };
        // SAFETY: the caller's struct has at least `size` >= n bytes.
        unsafe { std::ptr::copy_nonoverlapping((&raw const o).cast::<u8>(), options.cast::<u8>(), n) };
        SQ_OK
    }
}

/// Creates an empty TLS configuration (add at least one certificate before
/// handing it to a server). The protocols offered by ALPN are `http/1.1`
/// only: a client whose ALPN list lacks it is refused with the
/// `no_application_protocol` alert; a client that sends no ALPN is served.
///
/// Thread: any thread.
/// Ownership: `options` (NULL: the defaults) is copied. The caller owns the
/// config and frees it with `sq_tls_config_free`.
/// Returns: the config, or NULL (with `sq_last_error()`) when `options` has
/// its `size` unset or a field out of range.
#[unsafe(no_mangle)]
pub extern "C" fn sq_tls_config_new(options: *const sq_tls_options) -> *mut sq_tls_config {
    ffi_boundary! {
        let o = if options.is_null() {
            default_options()
        } else {
            // SAFETY: a caller-allocated struct whose first field is its size.
            ffi_try!(unsafe { read_versioned(options, default_options()) })
        };
        if o.tls13_only > 1 || o.tickets > 1 {
            return fail(Error::new(ErrorKind::InvalidArg, "tls13_only and tickets are 0 or 1"));
        }
        let mut tls = ServerTls::default();
        tls.tls13_only = o.tls13_only == 1;
        tls.tickets = o.tickets == 1;
        into_ptr::<sq_tls_config>(Mutex::new(tls))
    }
}

/// Frees a TLS configuration. Servers it was given to keep what they
/// copied. Calling with NULL is a harmless no-op.
///
/// Thread: any thread (not while another thread uses the same config).
/// Ownership: takes the config back; the pointer must not be used again.
/// Returns: nothing.
#[unsafe(no_mangle)]
pub extern "C" fn sq_tls_config_free(config: *mut sq_tls_config) {
    ffi_boundary! {
        // SAFETY: NULL or a live config from sq_tls_config_new, handed back.
        drop(unsafe { take_box::<sq_tls_config>(config) });
    }
}

fn add(config: *mut sq_tls_config, f: impl FnOnce(&mut ServerTls) -> crate::Result<()>) -> sq_status {
    let c = try_ref!(sq_tls_config, config, "config");
    let mut tls = c.lock().unwrap_or_else(|p| p.into_inner());
    ffi_try!(f(&mut tls));
    SQ_OK
}

/// Adds a certificate chain and its private key from PEM files: the chain
/// file holds the server's certificate first, then its intermediates; the
/// key file an ECDSA (P-256, P-384), RSA or Ed25519 key in PKCS#8, PKCS#1
/// or SEC1 form. The first certificate added is the default one; the others
/// are chosen when the name a client asks for (SNI) is among their names.
///
/// Thread: any thread (not while another thread uses the same config).
/// Ownership: the paths are read now; nothing is kept of them.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` for a file that
/// cannot be read, holds no certificate or no usable key, or a key that
/// does not match its certificate (`sq_last_error()` says which).
#[unsafe(no_mangle)]
pub extern "C" fn sq_tls_config_add_cert_file(config: *mut sq_tls_config, cert_file: *const c_char, key_file: *const c_char) -> sq_status {
    ffi_boundary! {
        // SAFETY: NUL-terminated strings per the API contract.
        let cert = ffi_try!(unsafe { str_arg(cert_file, "cert_file") });
        // SAFETY: as above.
        let key = ffi_try!(unsafe { str_arg(key_file, "key_file") });
        add(config, |t| t.add_pem_files(cert, key))
    }
}

/// Adds a certificate chain and its private key from PEM in memory, as
/// `sq_tls_config_add_cert_file` takes them from files.
///
/// Thread: any thread (not while another thread uses the same config).
/// Ownership: both buffers are read now; nothing is kept of them.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` for PEM without a
/// certificate or a usable key, or a key that does not match its
/// certificate (`sq_last_error()` says which).
#[unsafe(no_mangle)]
pub extern "C" fn sq_tls_config_add_cert_pem(
    config: *mut sq_tls_config,
    cert_pem: *const u8,
    cert_len: usize,
    key_pem: *const u8,
    key_len: usize,
) -> sq_status {
    ffi_boundary! {
        if cert_pem.is_null() {
            return fail_null("cert_pem");
        }
        if key_pem.is_null() {
            return fail_null("key_pem");
        }
        // SAFETY: the caller's buffers of the given lengths, read now.
        let (cert, key) = unsafe { (std::slice::from_raw_parts(cert_pem, cert_len), std::slice::from_raw_parts(key_pem, key_len)) };
        add(config, |t| t.add_pem(cert, key, "the PEM given in memory"))
    }
}

/// Serves TLS (https, wss) on every listener of `server`, for the
/// connections accepted from now on: calling it again with another config
/// reloads the certificates without a restart (connections already open
/// keep theirs); NULL goes back to plain HTTP. The TLS handshake must end
/// within the header timeout (`sq_server_set_header_timeout_ms`, counted
/// from the accept), or the connection is closed. Plain HTTP sent to a TLS
/// server is answered 400 in plaintext, then closed.
///
/// Thread: any thread (not while another thread changes the same config).
/// Ownership: what the server needs of `config` is copied (one copy shared
/// by every reactor); the caller still owns `config`.
/// Returns: `SQ_OK`; `SQ_ERR_NULL` when `server` is NULL;
/// `SQ_ERR_INVALID_ARG` when `config` has no certificate; `SQ_ERR_TLS` when
/// the TLS library refuses the configuration.
#[unsafe(no_mangle)]
pub extern "C" fn sq_server_set_tls(server: *mut sq_server, config: *const sq_tls_config) -> sq_status {
    ffi_boundary! {
        let s = try_ref!(sq_server, server, "server");
        let built = if config.is_null() {
            None
        } else {
            let c = try_ref!(sq_tls_config, config, "config");
            let tls = c.lock().unwrap_or_else(|p| p.into_inner());
            Some(ffi_try!(tls.build()))
        };
        s.configure(|c| c.tls = built);
        SQ_OK
    }
}

/// The rustls configuration of a TCP listener's `options.tls` (no ALPN).
pub(crate) fn build_for_tcp(config: *const sq_tls_config) -> Result<std::sync::Arc<rustls::ServerConfig>, Error> {
    // SAFETY: the C contract says the pointer is NULL or a live config.
    let Some(c) = (unsafe { super::boundary::as_rust::<sq_tls_config>(config) }) else {
        return Err(Error::new(ErrorKind::Null, "options.tls is NULL"));
    };
    let tls = c.lock().unwrap_or_else(|p| p.into_inner());
    tls.build_with_alpn(&[])
}
