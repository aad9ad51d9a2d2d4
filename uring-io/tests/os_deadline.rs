//! Deadlines on the real disk: a chain that cannot make its deadline reports
//! `DeadlineExceeded` first and its final fate later; one that makes it reports only its fate.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failure there is a test failure"
)]

mod os_support;

use std::path::Path;
use std::time::Duration;

use os_support::{assert_durable, backends, final_event, patterned, poll_until_final};
use uring_io::{ChainOutcome, CommitChain, CommitQueue, FileHandle, OpenMode, Storage};

#[test]
fn a_one_microsecond_deadline_on_64_mib_reports_deadline_then_final() {
    // Goal: DeadlineExceeded comes before the final outcome and at most once. Method: per
    // backend, submit a 64 MiB chain with a 1 µs deadline (no disk writes 64 MiB in 1 µs),
    // poll until final, and check the event order; a Durable outcome must be real (read back).
    for backend in backends() {
        let storage = &backend.storage;
        let alignment = storage.info().alignment_bytes;
        let file = storage.open(Path::new("big"), OpenMode::CreateNew).unwrap();
        let mut queue = storage.commit_queue().unwrap();
        let buf = patterned(64 << 20, alignment, 3);
        let id = queue
            .submit(CommitChain {
                file: file.clone(),
                offset: 0,
                buf,
                deadline: Some(Duration::from_micros(1)),
                tag: 9,
            })
            .unwrap();
        let events = poll_until_final(queue.as_mut(), &[id]);
        let kinds: Vec<&ChainOutcome> = events.iter().map(|event| &event.outcome).collect();
        eprintln!("{}: {kinds:?}", storage.info().kind.name());
        assert_eq!(events[0].outcome, ChainOutcome::DeadlineExceeded);
        assert!(events[0].buf.is_none());
        let deadline_events = events
            .iter()
            .filter(|event| event.outcome == ChainOutcome::DeadlineExceeded)
            .count();
        assert_eq!(deadline_events, 1);
        let last = final_event(&events, id);
        assert!(
            matches!(
                last.outcome,
                ChainOutcome::Durable | ChainOutcome::Cancelled
            ),
            "unexpected final outcome {:?}",
            last.outcome
        );
        if last.outcome == ChainOutcome::Durable {
            let on_disk = std::fs::read(backend.dir.path().join("big")).unwrap();
            assert_eq!(on_disk.len(), 64 << 20);
            assert_eq!(&on_disk[..], &last.buf.as_ref().unwrap()[..]);
        }
        // Whether its sync step was cancelled (the write queued on io-wq) or completed late,
        // the chain leaves nothing behind.
        assert_next_chain_completes_alone(queue.as_mut(), &file, 64 << 20, alignment);
    }
}

#[test]
fn a_generous_deadline_reports_only_the_final_outcome() {
    // Goal: no spurious DeadlineExceeded. Method: 8 KiB chains with a 60 s deadline; every
    // event is final and Durable.
    for backend in backends() {
        let storage = &backend.storage;
        let alignment = storage.info().alignment_bytes;
        let file = storage
            .create_prewritten(Path::new("small"), 64 << 10)
            .unwrap();
        let mut queue = storage.commit_queue().unwrap();
        let ids: Vec<_> = (0..4u64)
            .map(|index| {
                let chain = CommitChain {
                    file: file.clone(),
                    offset: index * 8192,
                    buf: patterned(8192, alignment, u8::try_from(index).unwrap()),
                    deadline: Some(Duration::from_secs(60)),
                    tag: index,
                };
                queue.submit(chain).unwrap()
            })
            .collect();
        let events = poll_until_final(queue.as_mut(), &ids);
        assert_eq!(events.len(), 4, "{events:?}");
        assert!(
            events
                .iter()
                .all(|event| event.outcome == ChainOutcome::Durable)
        );
    }
}

#[test]
fn poll_without_wait_returns_immediately_and_reports_passed_deadlines() {
    // Goal: `poll(None)` never blocks, yet still reports a deadline that has passed. Method:
    // submit 64 MiB with a 1 µs deadline, sleep 1 ms, poll(None) once.
    for backend in backends() {
        let storage = &backend.storage;
        let alignment = storage.info().alignment_bytes;
        let file = storage
            .open(Path::new("nowait"), OpenMode::CreateNew)
            .unwrap();
        let mut queue = storage.commit_queue().unwrap();
        let chain = CommitChain {
            file,
            offset: 0,
            buf: patterned(64 << 20, alignment, 1),
            deadline: Some(Duration::from_micros(1)),
            tag: 1,
        };
        let id = queue.submit(chain).unwrap();
        std::thread::sleep(Duration::from_millis(1));
        let mut events = Vec::new();
        queue.poll(None, &mut events).unwrap();
        assert_eq!(
            events.first().map(|event| &event.outcome),
            Some(&ChainOutcome::DeadlineExceeded),
            "a passed deadline is reported first: {events:?}"
        );
        assert!(events.iter().all(|event| event.id == id));
        // The final outcome may already have come with it (a plain ring posts completions
        // without being entered); otherwise it comes later.
        if !events.iter().any(|event| event.outcome.is_final()) {
            poll_until_final(queue.as_mut(), &[id]);
        }
    }
}

#[test]
fn chains_past_their_deadline_end_once_and_leave_nothing_in_flight() {
    // Goal: a chain whose deadline passes while its round is in flight (its sync step then
    // cancelled, or found too late to cancel) reports `DeadlineExceeded` at most once and
    // before one final outcome, and leaves no request or CQE behind: the queue is empty after,
    // and the next chain completes alone and Durable. Method: per backend, 16 chains of 1 MiB
    // with deadlines from 1 µs to 32 ms, polled until final; a Durable region must read back,
    // a Cancelled one is unknown. Then an 8 KiB chain without a deadline.
    const CHAIN_BYTES: usize = 1 << 20;
    const CHAIN_COUNT: u64 = 16;
    for backend in backends() {
        let storage = &backend.storage;
        let alignment = storage.info().alignment_bytes;
        let file = storage
            .create_prewritten(Path::new("late"), (CHAIN_COUNT + 1) * CHAIN_BYTES as u64)
            .unwrap();
        let mut queue = storage.commit_queue().unwrap();
        let ids: Vec<_> = (0..CHAIN_COUNT)
            .map(|index| {
                let chain = CommitChain {
                    file: file.clone(),
                    offset: index * CHAIN_BYTES as u64,
                    buf: patterned(CHAIN_BYTES, alignment, u8::try_from(index).unwrap()),
                    deadline: Some(Duration::from_micros(1 << (index % 16))),
                    tag: index,
                };
                queue.submit(chain).unwrap()
            })
            .collect();
        let events = poll_until_final(queue.as_mut(), &ids);
        let on_disk = std::fs::read(backend.dir.path().join("late")).unwrap();
        let mut outcomes = Vec::new();
        for &id in &ids {
            let chain_events: Vec<_> = events.iter().filter(|event| event.id == id).collect();
            let last = final_event(&events, id);
            assert!(
                std::ptr::eq(*chain_events.last().unwrap(), last),
                "the final outcome comes last: {chain_events:?}"
            );
            let deadline_events = chain_events
                .iter()
                .filter(|event| event.outcome == ChainOutcome::DeadlineExceeded)
                .count();
            assert!(deadline_events <= 1, "{chain_events:?}");
            let offset = usize::try_from(last.tag).unwrap() * CHAIN_BYTES;
            match last.outcome {
                ChainOutcome::Durable => {
                    let region = &on_disk[offset..offset + CHAIN_BYTES];
                    assert_eq!(region, &last.buf.as_ref().unwrap()[..]);
                }
                ChainOutcome::Cancelled => {}
                ref other => panic!("unexpected final outcome {other:?}"),
            }
            outcomes.push((deadline_events, last.outcome.clone()));
        }
        eprintln!("{}: {outcomes:?}", storage.info().kind.name());
        assert_eq!(queue.in_flight(), 0);
        assert_next_chain_completes_alone(
            queue.as_mut(),
            &file,
            CHAIN_COUNT * CHAIN_BYTES as u64,
            alignment,
        );
    }
}

/// Checks that `queue` has nothing left in flight and that a new 8 KiB chain at `offset`, with
/// no deadline, completes Durable as the only event: no request or CQE of an earlier chain
/// (such as the cancel of a late one) is left to disturb it.
fn assert_next_chain_completes_alone(
    queue: &mut dyn CommitQueue,
    file: &FileHandle,
    offset: u64,
    alignment: usize,
) {
    assert_eq!(queue.in_flight(), 0);
    let chain = CommitChain {
        file: file.clone(),
        offset,
        buf: patterned(8192, alignment, 99),
        deadline: None,
        tag: 99,
    };
    let id = queue.submit(chain).unwrap();
    let events = poll_until_final(queue, &[id]);
    assert_eq!(
        events.len(),
        1,
        "nothing but the new chain's outcome: {events:?}"
    );
    assert_durable(&events, id);
    let mut late = Vec::new();
    queue
        .poll(Some(Duration::from_millis(10)), &mut late)
        .unwrap();
    assert!(late.is_empty(), "no stray event: {late:?}");
}
