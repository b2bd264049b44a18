//! Loop tests against the real clock (bounds are generous: these machines are
//! shared). Ordering and rescheduling rules are tested exactly in timer.rs
//! with a virtual clock.

use super::*;
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc;

fn opts(io_threads: usize) -> LoopOptions {
    LoopOptions { io_threads }
}

fn poll_until(lp: &Loop, mut done: impl FnMut() -> bool, limit: Duration) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "condition not met within {limit:?}");
        lp.poll(Some(Duration::from_millis(50))).unwrap();
    }
}

#[test]
fn nothing_is_created_before_start() {
    let lp = Loop::new();
    lp.handle().add_callback(|| {}).unwrap();
    lp.handle().call_later(Duration::from_millis(5), || {}).unwrap();
    assert!(!lp.shared().started.load(Ordering::SeqCst));
    assert_eq!(lp.shared().fd.load(Ordering::SeqCst), -1);
    assert!(lp.host.lock().unwrap().threads.is_empty());
    assert_eq!(lp.timeout(), Some(Duration::ZERO), "not started: poll now");
}

#[test]
fn callbacks_from_threads_run_once_in_order_on_the_host() {
    // 4 threads of 2000 callbacks; 50 under Miri, which interprets every step
    const EACH: usize = if cfg!(miri) { 50 } else { 2000 };
    for io in [0, 1, 2] {
        let lp = Loop::with_options(opts(io));
        let host = std::thread::current().id();
        let seen = Arc::new(Mutex::new(vec![Vec::new(); 4]));
        let count = Arc::new(AtomicUsize::new(0));
        let mut producers = vec![];
        for t in 0..4 {
            let h = lp.handle().clone();
            let seen = seen.clone();
            let count = count.clone();
            producers.push(std::thread::spawn(move || {
                for i in 0..EACH {
                    let seen = seen.clone();
                    let count = count.clone();
                    h.add_callback(move || {
                        assert_eq!(std::thread::current().id(), host);
                        seen.lock().unwrap()[t].push(i);
                        count.fetch_add(1, Ordering::SeqCst);
                    })
                    .unwrap();
                }
            }));
        }
        poll_until(&lp, || count.load(Ordering::SeqCst) == 4 * EACH, Duration::from_secs(20));
        for p in producers {
            p.join().unwrap();
        }
        lp.poll(Some(Duration::ZERO)).unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 4 * EACH, "none run twice (io_threads {io})");
        for v in seen.lock().unwrap().iter() {
            assert_eq!(*v, (0..EACH).collect::<Vec<_>>());
        }
    }
}

#[test]
fn timers_fire_in_deadline_order_not_early() {
    let lp = Loop::new();
    let order = Arc::new(Mutex::new(vec![]));
    let start = Instant::now();
    for (i, ms) in [(0, 60u64), (1, 20), (2, 40), (3, 20)] {
        let order = order.clone();
        lp.handle()
            .call_later(Duration::from_millis(ms), move || {
                let el = start.elapsed();
                assert!(el >= Duration::from_millis(ms), "timer {i} fired early: {el:?} < {ms} ms");
                order.lock().unwrap().push(i);
            })
            .unwrap();
    }
    poll_until(&lp, || order.lock().unwrap().len() == 4, Duration::from_secs(10));
    assert_eq!(*order.lock().unwrap(), vec![1, 3, 2, 0]);
}

#[test]
fn call_every_repeats_until_cancelled_from_inside() {
    let lp = Loop::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let h = lp.handle().clone();
    let r = runs.clone();
    lp.handle()
        .call_every(Duration::from_millis(5), move |id| {
            if r.fetch_add(1, Ordering::SeqCst) + 1 == 5 {
                h.cancel(id).unwrap();
                assert_eq!(h.cancel(id).unwrap_err().kind(), ErrorKind::AlreadyDone);
            }
        })
        .unwrap();
    poll_until(&lp, || runs.load(Ordering::SeqCst) >= 5, Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_millis(60);
    while Instant::now() < deadline {
        lp.poll(Some(Duration::from_millis(10))).unwrap();
    }
    assert_eq!(runs.load(Ordering::SeqCst), 5);
    assert_eq!(lp.timeout(), None, "no timer left");
}

#[test]
fn cancel_of_a_due_timer_in_the_same_pass() {
    // a, then b, are due in the same pass; a cancels b: b must not run.
    let lp = Loop::new();
    let ran_b = Arc::new(AtomicBool::new(false));
    let b_id = Arc::new(Mutex::new(None::<TimerId>));
    let h = lp.handle().clone();
    let bid = b_id.clone();
    lp.handle()
        .call_later(Duration::from_millis(10), move || {
            h.cancel(bid.lock().unwrap().unwrap()).unwrap();
        })
        .unwrap();
    let rb = ran_b.clone();
    let id = lp.handle().call_later(Duration::from_millis(10), move || rb.store(true, Ordering::SeqCst)).unwrap();
    *b_id.lock().unwrap() = Some(id);
    std::thread::sleep(Duration::from_millis(30));
    lp.poll(Some(Duration::ZERO)).unwrap();
    assert!(!ran_b.load(Ordering::SeqCst));
}

#[test]
fn stop_from_another_thread_ends_run() {
    for io in [0, 1] {
        let lp = Loop::with_options(opts(io));
        let h = lp.handle().clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            h.stop();
        });
        let start = Instant::now();
        lp.run().unwrap();
        assert!(start.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
    }
}

#[test]
fn stop_before_run_returns_at_once() {
    let lp = Loop::new();
    lp.handle().stop();
    lp.run().unwrap();
}

#[test]
fn cross_thread_timer_wakes_a_sleeping_host() {
    // The host sleeps with no deadline; another thread adds a 20 ms timer.
    let lp = Loop::new();
    let h = lp.handle().clone();
    let (tx, rx) = mpsc::channel();
    let fired = Arc::new(AtomicBool::new(false));
    let f = fired.clone();
    let h2 = h.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        h2.call_later(Duration::from_millis(20), move || f.store(true, Ordering::SeqCst)).unwrap();
        tx.send(Instant::now()).unwrap();
    });
    lp.poll(Some(Duration::ZERO)).unwrap(); // start
    let start = Instant::now();
    while !fired.load(Ordering::SeqCst) {
        lp.poll(None).unwrap();
        assert!(start.elapsed() < Duration::from_secs(10));
    }
    let added = rx.recv().unwrap();
    assert!(added.elapsed() < Duration::from_secs(2));
    t.join().unwrap();
}

#[test]
fn reentrant_and_busy_are_errors() {
    let lp = Arc::new(Loop::new());
    let lp2 = lp.clone();
    let (tx, rx) = mpsc::channel();
    lp.handle()
        .add_callback(move || {
            let e = lp2.poll(Some(Duration::ZERO)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Reentrant);
            assert_eq!(lp2.run().unwrap_err().kind(), ErrorKind::Reentrant);
            assert_eq!(lp2.check_free().unwrap_err().kind(), ErrorKind::Reentrant);
            // another thread trying to poll meanwhile is told Busy
            let lp3 = lp2.clone();
            let kind = std::thread::spawn(move || lp3.poll(Some(Duration::ZERO)).unwrap_err().kind()).join().unwrap();
            tx.send(kind).unwrap();
        })
        .unwrap();
    lp.poll(Some(Duration::from_secs(1))).unwrap();
    assert_eq!(rx.recv().unwrap(), ErrorKind::Busy);
    lp.poll(Some(Duration::ZERO)).unwrap();
}

#[test]
// The loop's fd is an epoll set, and Miri's epoll cannot watch another one.
#[cfg_attr(miri, ignore = "Miri's epoll cannot watch an epoll fd")]
fn fd_is_level_triggered_and_embedding_recipe_works() {
    for io in [0, 1] {
        let lp = Loop::with_options(opts(io));
        let fd = lp.fd().unwrap();
        let readable = |fd| crate::net::sys::readable_within(fd, 0);
        assert!(readable(fd), "readable until the first poll");
        lp.poll(Some(Duration::ZERO)).unwrap();
        assert!(!readable(fd), "nothing pending");
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        let h = lp.handle().clone();
        std::thread::spawn(move || h.add_callback(move || { n2.fetch_add(1, Ordering::SeqCst); }).unwrap())
            .join()
            .unwrap();
        assert!(readable(fd));
        assert!(readable(fd), "still readable: level-triggered");
        lp.poll(Some(Duration::ZERO)).unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 1);
        assert!(!readable(fd));
        // a callback that schedules another keeps the fd readable
        let h = lp.handle().clone();
        let n3 = n.clone();
        lp.handle()
            .add_callback(move || {
                h.add_callback(move || { n3.fetch_add(1, Ordering::SeqCst); }).unwrap();
            })
            .unwrap();
        lp.poll(Some(Duration::ZERO)).unwrap();
        assert!(readable(fd), "work scheduled by a callback is pending");
        lp.poll(Some(Duration::ZERO)).unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 2);
        // timers: the fd stays quiet, timeout() says when
        lp.handle().call_later(Duration::from_millis(30), || {}).unwrap();
        let t = lp.timeout().unwrap();
        assert!(t <= Duration::from_millis(30) && t > Duration::from_millis(0));
    }
}

#[test]
fn set_io_threads_only_before_start() {
    let lp = Loop::new();
    assert_eq!(lp.set_io_threads(65).unwrap_err().kind(), ErrorKind::InvalidArg);
    lp.set_io_threads(2).unwrap();
    lp.poll(Some(Duration::ZERO)).unwrap();
    assert_eq!(lp.host.lock().unwrap().threads.len(), 2);
    assert_eq!(lp.set_io_threads(1).unwrap_err().kind(), ErrorKind::State);
}

#[test]
fn reactor_commands_reach_the_host() {
    for io in [0, 1, 3] {
        let lp = Loop::with_options(opts(io));
        lp.poll(Some(Duration::ZERO)).unwrap();
        let got = Arc::new(Mutex::new(vec![]));
        for i in 0..io.max(1) * 2 {
            let h = lp.handle().clone();
            let got = got.clone();
            lp.handle()
                .send_to_reactor(
                    i,
                    Box::new(move |r: &mut Reactor| {
                        let index = r.index;
                        h.add_callback(move || got.lock().unwrap().push(index)).unwrap();
                    }),
                )
                .unwrap();
        }
        poll_until(&lp, || got.lock().unwrap().len() == io.max(1) * 2, Duration::from_secs(10));
        let mut v = got.lock().unwrap().clone();
        v.sort();
        let expect: Vec<usize> = (0..io.max(1) * 2).map(|i| i % io.max(1)).collect::<Vec<_>>();
        let mut e = expect;
        e.sort();
        assert_eq!(v, e);
    }
}

#[test]
fn panicking_callback_does_not_kill_the_loop() {
    let lp = Loop::new();
    let ok = Arc::new(AtomicBool::new(false));
    lp.handle().add_callback(|| panic!("boom")).unwrap();
    let o = ok.clone();
    lp.handle().add_callback(move || o.store(true, Ordering::SeqCst)).unwrap();
    lp.poll(Some(Duration::ZERO)).unwrap();
    assert!(ok.load(Ordering::SeqCst));
}

#[test]
fn handle_outliving_the_loop_gets_closed() {
    let lp = Loop::new();
    let h = lp.handle().clone();
    lp.poll(Some(Duration::ZERO)).unwrap();
    drop(lp);
    assert_eq!(h.add_callback(|| {}).unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(h.call_later(Duration::ZERO, || {}).unwrap_err().kind(), ErrorKind::Closed);
}

#[test]
fn dropping_pending_work_drops_closures() {
    let lp = Loop::new();
    let token = Arc::new(());
    let t1 = token.clone();
    let t2 = token.clone();
    lp.handle().add_callback(move || drop(t1)).unwrap();
    lp.handle().call_every(Duration::from_secs(60), move |_| { let _ = &t2; }).unwrap();
    assert_eq!(Arc::strong_count(&token), 3);
    drop(lp);
    assert_eq!(Arc::strong_count(&token), 1);
}
