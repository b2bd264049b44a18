/*
 * squall.h: the C API of squall, an event loop, HTTP/1.1 server, WebSockets
 * with pub/sub and HTTP client whose I/O is done in Rust.
 *
 * Generated from src/ffi/ by build.rs (cbindgen). Do not edit.
 *
 * Conventions:
 *  - Functions return sq_status: SQ_OK (0) on success or a negative SQ_ERR_*
 *    code. Constructors return NULL on failure. Functions returning an fd or a
 *    count return a negative sq_status on failure.
 *  - sq_last_error() describes the calling thread's last failure.
 *  - Out-parameters are written only on success.
 *  - When a function that takes a callback returns an error, that callback
 *    will never be called.
 *  - What you create with sq_X_new you free with sq_X_free; sq_X_free(NULL)
 *    is a harmless no-op.
 *  - Objects are not thread-safe except where a function says
 *    "Thread: any thread"; such functions may be called concurrently.
 *  - Every callback of a loop runs on its host thread (the one inside
 *    sq_loop_run or sq_loop_poll), one at a time.
 *  - Strings passed in are NUL-terminated UTF-8; payloads are pointer + length.
 */

#ifndef SQUALL_H
#define SQUALL_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

/** The version of squall this header belongs to. */
#define SQ_VERSION_MAJOR 0
#define SQ_VERSION_MINOR 1
#define SQ_VERSION_PATCH 0
#define SQ_VERSION_STRING "0.1.0"
/** Compare with sq_abi_version() at run time; see docs/ABI.md. */
#define SQ_ABI_VERSION 1


/**
 * An event loop: reactor threads that own all I/O, and the host thread (the
 * one inside `sq_loop_run` or `sq_loop_poll`) that runs every callback, one
 * at a time, in order.
 *
 * Lifecycle: `sq_loop_new` → setters (`sq_loop_set_io_threads`) → either
 * `sq_loop_run` (blocks until `sq_loop_stop`) or, for a host with an event
 * loop of its own, wait on `sq_loop_fd` for at most `sq_loop_timeout_ms` and
 * then `sq_loop_poll(loop, 0)` → `sq_loop_free`.
 *
 * Thread safety: `sq_loop_add_callback`, `sq_call_later`, `sq_call_every`,
 * `sq_timer_cancel`, `sq_loop_stop` and `sq_loop_timeout_ms` may be called
 * from any thread at any time while the loop exists. `sq_loop_run`,
 * `sq_loop_poll` and `sq_loop_fd` are for one thread at a time (another
 * thread gets `SQ_ERR_BUSY`) and never from inside the loop's callbacks
 * (`SQ_ERR_REENTRANT`). The loop creates no thread and no file descriptor
 * before its first run, poll or fd call, so a program may create it, fork,
 * and start it in the child; a loop that had started is refused in a child
 * with `SQ_ERR_FORKED`.
 */
typedef struct sq_loop sq_loop;

/**
 * The result of most squall functions: `SQ_OK` (0) on success, a negative
 * `SQ_ERR_*` code on failure. Codes are stable: a code's number is never
 * reused for another meaning.
 */
typedef int32_t sq_status;

/**
 * A callback run once on the host thread. `userdata` is the pointer given
 * when it was scheduled; squall never dereferences it.
 */
typedef void (*sq_callback)(void *userdata);

/**
 * Identifies a timer of one loop. Never 0.
 */
typedef uint64_t sq_timer_id;

/**
 * A timer callback, run on the host thread. `id` is the timer's id (a
 * periodic timer may cancel itself with it).
 */
typedef void (*sq_timer_callback)(void *userdata, sq_timer_id id);

/**
 * Log levels. A callback set for a level receives that level and the more
 * severe ones.
 */
typedef int sq_log_level;

/**
 * Receives one log record: its level, its target (the squall module that
 * logged it, e.g. "squall::loop") and its message.
 */
typedef void (*sq_log_callback)(void *userdata,
                                sq_log_level level,
                                const char *target,
                                const char *message);

/**
 * No records.
 */
#define SQ_LOG_OFF 0

/**
 * Failures that lose work: a handler's panic, a poll error.
 */
#define SQ_LOG_ERROR 1

/**
 * Problems the library recovered from.
 */
#define SQ_LOG_WARN 2

/**
 * Lifecycle: listening, shutting down.
 */
#define SQ_LOG_INFO 3

/**
 * Per-connection detail.
 */
#define SQ_LOG_DEBUG 4

/**
 * Everything.
 */
#define SQ_LOG_TRACE 5

/**
 * Success.
 */
#define SQ_OK 0

/**
 * A required pointer argument (a handle, a callback, an out-parameter) was NULL.
 */
#define SQ_ERR_NULL (-1)

/**
 * An argument was out of range or malformed.
 */
#define SQ_ERR_INVALID_ARG (-2)

/**
 * The object is closed: the loop was freed, the peer went away.
 */
#define SQ_ERR_CLOSED (-3)

/**
 * The operation was already done: a timer that fired or was cancelled, a
 * response already finished.
 */
#define SQ_ERR_ALREADY_DONE (-4)

/**
 * An operating-system call failed; `sq_last_error()` has the details.
 */
#define SQ_ERR_IO (-5)

/**
 * A configured limit was reached.
 */
#define SQ_ERR_LIMIT (-6)

/**
 * A bug inside squall was caught before it could cross into the caller.
 */
#define SQ_ERR_PANIC (-7)

/**
 * Called from inside one of the loop's own callbacks where that is not allowed
 * (running, polling or freeing the loop; setting the log callback from the log callback).
 */
#define SQ_ERR_REENTRANT (-8)

/**
 * Another thread is already running or polling this loop.
 */
#define SQ_ERR_BUSY (-9)

/**
 * The loop was started before `fork()`; a child process must create its own.
 */
#define SQ_ERR_FORKED (-10)

/**
 * The object is in the wrong state for this call (an option set after start).
 */
#define SQ_ERR_STATE (-11)

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Creates an event loop with default options (one reactor thread).
 *
 * Thread: any thread.
 * Ownership: the caller owns the loop and frees it with `sq_loop_free`.
 * Returns: the loop; never NULL in practice (NULL only if an internal error
 * was caught, with `sq_last_error()` set).
 */
sq_loop *sq_loop_new(void);

/**
 * Frees a loop: stops and joins its reactor threads, closes its descriptors,
 * and drops every callback and timer still pending without running it.
 * Calling with NULL is a harmless no-op.
 *
 * Thread: the host thread (or any thread, as long as no thread is inside
 * `sq_loop_run`/`sq_loop_poll` of this loop). From inside one of the loop's
 * own callbacks, or while another thread runs it, the call is refused: the
 * loop is not freed and `sq_last_error()` says why.
 * Ownership: takes the loop back; the pointer must not be used again (by
 * any thread) once the call returns, and it must not be freed twice.
 * Returns: nothing.
 */
void sq_loop_free(sq_loop *loop);

/**
 * Sets the number of reactor threads: 0 runs the reactor on the host thread
 * inside `sq_loop_run`/`sq_loop_poll` (no thread is ever spawned); N ≥ 1
 * runs N reactor threads. The default is 1. At most 64.
 *
 * Thread: any thread, before the loop starts (its first run, poll or fd call).
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` above 64;
 * `SQ_ERR_STATE` once the loop has started.
 */
sq_status sq_loop_set_io_threads(sq_loop *loop, uint32_t io_threads);

/**
 * Runs the loop on the calling thread, which becomes its host thread, until
 * `sq_loop_stop` is called. Every callback of the loop runs on this thread.
 * If `sq_loop_stop` was called while the loop was not running, returns at
 * once (and consumes that stop).
 *
 * Thread: one thread at a time; not from inside the loop's callbacks.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK` after a stop; `SQ_ERR_NULL`; `SQ_ERR_REENTRANT` from a
 * callback of this loop; `SQ_ERR_BUSY` if another thread runs or polls it;
 * `SQ_ERR_FORKED` in a child of fork() after the loop started;
 * `SQ_ERR_IO` if the loop's descriptors or threads could not be created.
 */
sq_status sq_loop_run(sq_loop *loop);

/**
 * Makes `sq_loop_run` return once the callback running now (if any) has
 * returned. If the loop is not running, the next `sq_loop_run` returns at once.
 *
 * Thread: any thread, including the loop's own callbacks.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`.
 */
sq_status sq_loop_stop(sq_loop *loop);

/**
 * One iteration of the loop on the calling thread: waits up to `timeout_ms`
 * (0: do not wait; -1: until something happens) for work, then runs every
 * callback that was pending when it woke and every timer that is due.
 * Callbacks scheduled by those callbacks wait for the next call. This is the
 * embedding entry point: wait on `sq_loop_fd` for at most
 * `sq_loop_timeout_ms`, then call `sq_loop_poll(loop, 0)`.
 *
 * Thread: one thread at a time; not from inside the loop's callbacks.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` for a timeout below
 * -1; `SQ_ERR_REENTRANT`; `SQ_ERR_BUSY`; `SQ_ERR_FORKED`; `SQ_ERR_IO`.
 */
sq_status sq_loop_poll(sq_loop *loop, int32_t timeout_ms);

/**
 * A file descriptor for a host that runs its own event loop: it is readable
 * while the loop has work pending (callbacks, I/O results, a stop) and stays
 * readable until `sq_loop_poll` has taken that work (level-triggered). Timers
 * do not make it readable: wait at most `sq_loop_timeout_ms()`. The first
 * call creates the loop's descriptors (not its threads, which start with the
 * first `sq_loop_poll`); the fd is readable until then.
 *
 * Thread: one thread at a time, as for `sq_loop_poll` (any thread once the fd
 * exists).
 * Ownership: the descriptor belongs to the loop: watch it, never read it,
 * write it or close it. It is closed by `sq_loop_free`.
 * Returns: the descriptor (≥ 0), or a negative `sq_status`: `SQ_ERR_NULL`,
 * `SQ_ERR_REENTRANT`, `SQ_ERR_BUSY`, `SQ_ERR_FORKED`, `SQ_ERR_IO`.
 */
int32_t sq_loop_fd(sq_loop *loop);

/**
 * How long a host may wait on `sq_loop_fd` before it must call
 * `sq_loop_poll`: 0 when work is pending (or the loop has not started yet),
 * the milliseconds until the next timer is due (rounded up), or -1 when there
 * is no timer (wait for the fd alone).
 *
 * Thread: any thread.
 * Ownership: nothing changes hands.
 * Returns: -1, or a timeout in milliseconds (at most INT32_MAX). For a NULL
 * loop, 0 (so that the following `sq_loop_poll` reports `SQ_ERR_NULL`).
 */
int32_t sq_loop_timeout_ms(const sq_loop *loop);

/**
 * Schedules `cb(userdata)` to run once on the host thread, after every
 * callback the calling thread scheduled before (FIFO per calling thread).
 * A callback scheduled while the loop lives is run exactly once, unless the
 * loop is freed first (then it is dropped without running).
 *
 * Thread: any thread, including the loop's own callbacks.
 * Ownership: squall keeps `userdata` (without dereferencing it) until it
 * hands it to `cb`; what it points to stays the caller's.
 * Returns: `SQ_OK`; `SQ_ERR_NULL` (loop or cb); `SQ_ERR_FORKED`. On an error
 * the callback will never be called.
 */
sq_status sq_loop_add_callback(sq_loop *loop, sq_callback cb, void *userdata);

/**
 * Schedules `cb(userdata, id)` to run once on the host thread `delay_ms`
 * milliseconds from now (0: on the next iteration). Timers due at the same
 * time run in the order they were scheduled.
 *
 * Thread: any thread, including the loop's own callbacks.
 * Ownership: squall keeps `userdata` (without dereferencing it) until the
 * timer fires or is cancelled. `id_out` may be NULL; otherwise the timer's id
 * is written there on success.
 * Returns: `SQ_OK`; `SQ_ERR_NULL` (loop or cb); `SQ_ERR_FORKED`. On an error
 * the callback will never be called.
 */
sq_status sq_call_later(sq_loop *loop,
                        uint64_t delay_ms,
                        sq_timer_callback cb,
                        void *userdata,
                        sq_timer_id *id_out);

/**
 * Schedules `cb(userdata, id)` to run on the host thread every `interval_ms`
 * milliseconds, first `interval_ms` from now, at a fixed rate: a run that
 * comes late does not shift the later ones, and beats missed while the host
 * was busy are skipped, not run in a burst. Runs until `sq_timer_cancel`.
 *
 * Thread: any thread, including the loop's own callbacks.
 * Ownership: squall keeps `userdata` (without dereferencing it) until the
 * timer is cancelled or the loop freed. `id_out` may be NULL (then the timer
 * can still cancel itself with the id its callback receives).
 * Returns: `SQ_OK`; `SQ_ERR_NULL` (loop or cb); `SQ_ERR_INVALID_ARG` for an
 * interval of 0; `SQ_ERR_FORKED`. On an error the callback will never be called.
 */
sq_status sq_call_every(sq_loop *loop,
                        uint64_t interval_ms,
                        sq_timer_callback cb,
                        void *userdata,
                        sq_timer_id *id_out);

/**
 * Cancels a timer: its callback will not run again, even if it was already
 * due. A timer may cancel itself from its own callback.
 *
 * Thread: any thread, including the loop's own callbacks.
 * Ownership: squall lets go of the timer's `userdata`; freeing what it
 * points to is the caller's business, and safe once this returns `SQ_OK`
 * (or, from another thread, once the callback can no longer be running:
 * cancel from the host thread to be sure).
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE` for a one-shot
 * timer that already fired or a timer already cancelled; `SQ_ERR_INVALID_ARG`
 * for an id this loop never issued; `SQ_ERR_FORKED`.
 */
sq_status sq_timer_cancel(sq_loop *loop, sq_timer_id id);

/**
 * Sends squall's log records at `level` and more severe to `cb`, or with `cb`
 * NULL stops sending them (then nothing is printed, unless the `SQUALL_LOG`
 * environment variable named a level when the first loop was created, which
 * prints on stderr). Process-wide: one callback for every loop.
 *
 * The callback is called on whatever thread logs, reactor threads included,
 * possibly on several threads at once: it must be thread-safe, and it must
 * not block for long. Records logged by squall calls made from inside the
 * callback are dropped (no recursion).
 *
 * Thread: any thread, except from inside the log callback itself.
 * Ownership: squall keeps `userdata` (without dereferencing it) until the
 * callback is replaced. When this returns, no thread is still inside the old
 * callback. `target` and `message` are valid only during the callback; copy
 * them to keep them.
 * Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` for a level outside
 * `SQ_LOG_OFF`..`SQ_LOG_TRACE`; `SQ_ERR_REENTRANT` from inside the callback.
 */
sq_status sq_log_set_callback(sq_log_level level, sq_log_callback cb, void *userdata);

/**
 * The name of a log level: "off", "error", "warn", "info", "debug", "trace",
 * or "unknown".
 *
 * Thread: any thread.
 * Ownership: a static string; do not free.
 * Returns: never NULL.
 */
const char *sq_log_level_str(sq_log_level level);

/**
 * The squall library version, "MAJOR.MINOR.PATCH", as built.
 *
 * Thread: any thread.
 * Ownership: a static string; do not free.
 * Returns: never NULL.
 */
const char *sq_version(void);

/**
 * The ABI version of the library. A program or binding built against
 * `squall.h` should refuse to run when `sq_abi_version() != SQ_ABI_VERSION`.
 *
 * Thread: any thread.
 * Ownership: nothing is returned that needs freeing.
 * Returns: the library's ABI version number.
 */
uint32_t sq_abi_version(void);

/**
 * A static description of a status code, e.g. "SQ_ERR_NULL: a required
 * pointer argument was NULL". Unknown codes give "unknown status code".
 *
 * Thread: any thread.
 * Ownership: a static string; do not free.
 * Returns: never NULL.
 */
const char *sq_status_str(sq_status status);

/**
 * A message describing the last failure of a squall call on the calling
 * thread (every call that returns an error code, NULL or a negative value
 * records one). Successful calls do not clear it, so read it only right after
 * a failure.
 *
 * Thread: any thread; each thread has its own message.
 * Ownership: owned by the library; valid until the next failing squall call
 * on the same thread. Do not free.
 * Returns: never NULL; "" when nothing has failed on this thread yet.
 */
const char *sq_last_error(void);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* SQUALL_H */
