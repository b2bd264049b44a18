//! Log records, from `tracing` inside the crate to the host.
//!
//! The crate logs with `tracing` under targets starting with `squall`. The
//! first time a loop is created or a log callback is set, squall installs a
//! process-wide subscriber (unless the process already has one, in which case
//! records go there). Records at or above the chosen level are handed to the
//! host's callback; with no callback they are dropped, unless the
//! `SQUALL_LOG` environment variable names a level (`error`, `warn`, `info`,
//! `debug`, `trace`), in which case they are printed on stderr.

use std::cell::Cell;
use std::ffi::{CString, c_char, c_void};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Once, RwLock};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// Log levels as the C ABI numbers them (0 is "off").
pub(crate) const OFF: u8 = 0;
pub(crate) const ERROR: u8 = 1;
pub(crate) const WARN: u8 = 2;
pub(crate) const INFO: u8 = 3;
pub(crate) const DEBUG: u8 = 4;
pub(crate) const TRACE: u8 = 5;

/// The C log callback: (userdata, level, target, message).
pub(crate) type RawLogFn = unsafe extern "C" fn(*mut c_void, i32, *const c_char, *const c_char);

enum Sink {
    Stderr,
    Raw { f: RawLogFn, data: *mut c_void },
}
// SAFETY: the userdata is never dereferenced by the library; the host promised
// (in the header) that its callback may be called from any thread.
unsafe impl Send for Sink {}
// SAFETY: as above: shared only to be called, from any thread, as promised.
unsafe impl Sync for Sink {}

static SINK: RwLock<Option<Sink>> = RwLock::new(None);
static MAX_LEVEL: AtomicU8 = AtomicU8::new(OFF);
static INSTALL: Once = Once::new();

thread_local!(static IN_LOG_CALLBACK: Cell<bool> = const { Cell::new(false) });

fn level_number(level: &Level) -> u8 {
    match *level {
        Level::ERROR => ERROR,
        Level::WARN => WARN,
        Level::INFO => INFO,
        Level::DEBUG => DEBUG,
        Level::TRACE => TRACE,
    }
}

/// The static name of a level number ("off" for 0, "unknown" past trace).
pub(crate) fn level_name(level: i32) -> &'static str {
    match level {
        0 => "off",
        1 => "error",
        2 => "warn",
        3 => "info",
        4 => "debug",
        5 => "trace",
        _ => "unknown",
    }
}

fn parse_level(s: &str) -> Option<u8> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "off" | "0" => OFF,
        "error" | "1" => ERROR,
        "warn" | "warning" | "2" => WARN,
        "info" | "3" => INFO,
        "debug" | "4" => DEBUG,
        "trace" | "5" => TRACE,
        _ => return None,
    })
}

struct Bridge;

#[derive(Default)]
struct Message {
    text: String,
    fields: String,
}

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.text.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={}", field.name(), value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.text, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={:?}", field.name(), value);
        }
    }
}

fn wanted(meta: &Metadata<'_>) -> bool {
    level_number(meta.level()) <= MAX_LEVEL.load(Ordering::Relaxed) && meta.target().starts_with("squall")
}

impl<S: Subscriber> Layer<S> for Bridge {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        // Never cache "never": the level can change at run time. The cost of a
        // disabled record is then one atomic load in `enabled`.
        if meta.target().starts_with("squall") {
            tracing::subscriber::Interest::sometimes()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        wanted(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(match MAX_LEVEL.load(Ordering::Relaxed) {
            OFF => LevelFilter::OFF,
            ERROR => LevelFilter::ERROR,
            WARN => LevelFilter::WARN,
            INFO => LevelFilter::INFO,
            DEBUG => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        })
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if !wanted(event.metadata()) || IN_LOG_CALLBACK.with(|c| c.get()) {
            return;
        }
        let mut msg = Message::default();
        event.record(&mut msg);
        msg.text.push_str(&msg.fields);
        let level = level_number(event.metadata().level());
        let sink = SINK.read().unwrap_or_else(|p| p.into_inner());
        match &*sink {
            None => {}
            Some(Sink::Stderr) => {
                eprintln!("squall {:5} {}: {}", level_name(level as i32), event.metadata().target(), msg.text);
            }
            Some(Sink::Raw { f, data }) => {
                let target = CString::new(event.metadata().target()).unwrap_or_default();
                let text = CString::new(msg.text.replace('\0', "\\0")).unwrap_or_default();
                IN_LOG_CALLBACK.with(|c| c.set(true));
                // SAFETY: the host registered `f` to be called with its userdata
                // and two NUL-terminated strings that live for the call.
                unsafe { f(*data, level as i32, target.as_ptr(), text.as_ptr()) };
                IN_LOG_CALLBACK.with(|c| c.set(false));
            }
        }
    }
}

fn install() {
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(Bridge);
        if tracing::subscriber::set_global_default(subscriber).is_err() {
            // The process has a subscriber of its own: squall's records go there.
        }
    });
}

/// Applies `SQUALL_LOG` (stderr output) unless a callback was set. Called when
/// a loop is created.
pub(crate) fn init_from_env() {
    static ENV: Once = Once::new();
    ENV.call_once(|| {
        let Some(level) = std::env::var("SQUALL_LOG").ok().and_then(|v| parse_level(&v)) else { return };
        install();
        let mut sink = SINK.write().unwrap_or_else(|p| p.into_inner());
        if sink.is_none() && level != OFF {
            *sink = Some(Sink::Stderr);
            MAX_LEVEL.store(level, Ordering::Relaxed);
            tracing::callsite::rebuild_interest_cache();
        }
    });
}

/// Whether the calling thread is inside the host's log callback.
pub(crate) fn in_log_callback() -> bool {
    IN_LOG_CALLBACK.with(|c| c.get())
}

/// Sets (or with `f` None, removes) the host's callback and the most verbose
/// level it receives. Returns once no thread is still inside the old callback.
pub(crate) fn set_raw_callback(level: u8, f: Option<RawLogFn>, data: *mut c_void) {
    install();
    let mut sink = SINK.write().unwrap_or_else(|p| p.into_inner());
    *sink = f.map(|f| Sink::Raw { f, data });
    MAX_LEVEL.store(if sink.is_some() { level.min(TRACE) } else { OFF }, Ordering::Relaxed);
    drop(sink);
    tracing::callsite::rebuild_interest_cache();
}
