//! The engine's `tracing` events (cargo feature `tracing`, on by default; see the crate docs'
//! "Tracing"): an open reports its backend and what it recovered, a flush its seal, a missed
//! deadline its hedge, and a failed hot-segment fsync the poisoned segment with its errno; an
//! open's events fire inside its `open` span, a seal's inside its `seal` span.
//!
//! The engine's events fire on its own threads (I/O thread, sealer), so one collecting
//! subscriber is installed as the global default for this test binary. Tests run in parallel
//! and share it: each picks its events out by a field only it uses (its directory or its space
//! name).

#![cfg(feature = "tracing")]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failure is a test failure"
)]

mod support;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use infinitedb::{Db, Error};
use support::suite_options;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use uring_io::{Fault, OpMatch, SimStorage};

/// One event as collected: its message and its other fields, each as its `Debug` text.
#[derive(Clone, Debug)]
struct Seen {
    message: String,
    fields: BTreeMap<String, String>,
}

impl Seen {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// The events of every thread of this process, in the order they fired.
static EVENTS: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

/// Installs the collector as the global default, once per process, before a test opens
/// anything.
fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| tracing::subscriber::set_global_default(Collector).unwrap());
}

/// The events collected so far that match `keep`.
fn events_where(keep: impl Fn(&Seen) -> bool) -> Vec<Seen> {
    EVENTS
        .lock()
        .unwrap()
        .iter()
        .filter(|seen| keep(seen))
        .cloned()
        .collect()
}

/// The names of the spans made so far; a span's id is its index plus one.
static SPANS: Mutex<Vec<String>> = Mutex::new(Vec::new());

thread_local! {
    /// The spans this thread is inside, innermost last.
    static ENTERED: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A subscriber that keeps every event, with the name of the span it fired in as its field
/// `span`.
struct Collector;

/// Records an event's fields into a [`Seen`].
struct FieldsOf<'a>(&'a mut Seen);

impl Visit for FieldsOf<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.0.message = text;
        } else {
            self.0.fields.insert(field.name().to_string(), text);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .fields
            .insert(field.name().to_string(), value.to_string());
    }
}

impl Subscriber for Collector {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let mut spans = SPANS.lock().unwrap();
        spans.push(attributes.metadata().name().to_string());
        Id::from_u64(u64::try_from(spans.len()).unwrap())
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut seen = Seen {
            message: String::new(),
            fields: BTreeMap::new(),
        };
        event.record(&mut FieldsOf(&mut seen));
        if let Some(id) = ENTERED.with(|entered| entered.borrow().last().copied()) {
            let name = SPANS.lock().unwrap()[usize::try_from(id - 1).unwrap()].clone();
            seen.fields.insert("span".to_string(), name);
        }
        EVENTS.lock().unwrap().push(seen);
    }

    fn enter(&self, id: &Id) {
        ENTERED.with(|entered| entered.borrow_mut().push(id.into_u64()));
    }

    fn exit(&self, _: &Id) {
        ENTERED.with(|entered| entered.borrow_mut().pop());
    }
}

#[test]
fn an_open_reports_its_backend_and_the_revision_it_recovered() {
    // Goal: an open emits a `backend` event (the backend `Db::backend` reports) and a
    // `recovered` event with the highest revision on disk. Method: open a real directory,
    // write 3 records, close; reopen; pick both events out by the directory's name.
    install();
    let dir = tempfile::tempdir().unwrap();
    let name = dir
        .path()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let db = Db::open(dir.path(), suite_options()).unwrap();
    let space = db.create_space("opened", 1, 16).unwrap();
    for i in 0..3_u32 {
        db.put(space, [i], b"v").unwrap();
    }
    let revision = db.last_revision();
    db.close().unwrap();
    let db = Db::open(dir.path(), suite_options()).unwrap();
    let in_dir = |seen: &Seen| seen.field("path").is_some_and(|path| path.contains(&name));
    let backends = events_where(|seen| seen.message == "backend" && in_dir(seen));
    assert_eq!(backends.len(), 2, "one per open: {backends:?}");
    let kind = db.backend().kind.name();
    assert_eq!(backends[1].field("backend"), Some(kind), "{backends:?}");
    assert!(backends[1].field("reason").is_some(), "{backends:?}");
    let recovered = events_where(|seen| seen.message == "recovered" && in_dir(seen));
    assert_eq!(recovered.len(), 2, "one per open: {recovered:?}");
    let expected = revision.0.to_string();
    assert_eq!(recovered[1].field("revision"), Some(expected.as_str()));
    assert_eq!(recovered[1].field("spaces"), Some("1"));
    assert_eq!(
        recovered[1].field("span"),
        Some("open"),
        "inside the open's span"
    );
    db.close().unwrap();
}

#[test]
fn a_flush_reports_its_seal_with_the_space_and_record_count() {
    // Goal: a seal emits a `seal` event naming its space, with its record count, bytes and
    // block. Method: 5 puts into a space of a unique name, flush; the event fires on the
    // sealer before the flush returns.
    install();
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), suite_options()).unwrap();
    let space = db.create_space("traced-seal", 1, 16).unwrap();
    for i in 0..5_u32 {
        db.put(space, [i], b"sealed").unwrap();
    }
    db.flush(space).unwrap();
    let seals =
        events_where(|seen| seen.message == "seal" && seen.field("space") == Some("traced-seal"));
    assert_eq!(seals.len(), 1, "{seals:?}");
    assert_eq!(seals[0].field("records"), Some("5"));
    let bytes: u64 = seals[0].field("bytes").unwrap().parse().unwrap();
    assert!(bytes > 0, "{seals:?}");
    assert_ne!(seals[0].field("block"), Some("0"), "{seals:?}");
    assert_eq!(
        seals[0].field("span"),
        Some("seal"),
        "inside the seal's span"
    );
    db.close().unwrap();
}

#[test]
fn a_missed_deadline_reports_its_hedge() {
    // Goal: a hot-segment chain that misses its deadline emits a `hedge` event naming its
    // space and how many batches go to the staging log. Method: a simulated disk whose
    // hot-segment fsyncs take 300 ms, a 2 ms deadline; 3 puts (acknowledged through the
    // staging log) must have hedged at least one batch.
    install();
    let sim = SimStorage::new(11);
    sim.faults().on(
        OpMatch::fsync().path_contains("seg-"),
        Fault::Latency(Duration::from_millis(300)),
    );
    let options = suite_options()
        .deadline(Some(Duration::from_millis(2)))
        .storage(Arc::new(sim.clone()));
    let db = Db::open("/db", options).unwrap();
    let space = db.create_space("traced-hedge", 1, 16).unwrap();
    for i in 0..3_u32 {
        db.put(space, [i], b"hedged").unwrap();
    }
    assert!(db.stats().deadline_misses > 0, "{:?}", db.stats());
    let hedges =
        events_where(|seen| seen.message == "hedge" && seen.field("space") == Some("traced-hedge"));
    assert!(!hedges.is_empty(), "no hedge event");
    let revisions: u64 = hedges[0].field("revisions").unwrap().parse().unwrap();
    assert!(revisions >= 1, "{hedges:?}");
    db.close().unwrap();
}

#[test]
fn a_failed_fsync_reports_the_poisoned_segment_and_its_errno() {
    // Goal: a failed hot-segment fsync emits a `segment poisoned` event with the space, the
    // segment's path and the errno, then a `segment rolled` event once the space moves on.
    // Method: a simulated disk failing the first hot-segment fsync with EIO; the put riding
    // it fails; the next put succeeds on the new segment.
    install();
    const EIO: i32 = 5;
    let sim = SimStorage::new(12);
    let options = suite_options().storage(Arc::new(sim.clone()));
    let db = Db::open("/db", options).unwrap();
    let space = db.create_space("traced-eio", 1, 16).unwrap();
    sim.faults().on(
        OpMatch::fsync().path_contains("seg-").nth(1),
        Fault::Errno(EIO),
    );
    let failed = db.put(space, [1], b"doomed");
    assert!(
        matches!(failed, Err(Error::WriteFailed { .. })),
        "{failed:?}"
    );
    db.put(space, [2], b"after").unwrap();
    let ours = |seen: &Seen| seen.field("space") == Some("traced-eio");
    let poisoned = events_where(|seen| seen.message == "segment poisoned" && ours(seen));
    assert_eq!(poisoned.len(), 1, "{poisoned:?}");
    assert_eq!(poisoned[0].field("errno"), Some("5"), "{poisoned:?}");
    assert!(
        poisoned[0]
            .field("path")
            .is_some_and(|path| path.contains("seg-")),
        "{poisoned:?}"
    );
    let rolled = events_where(|seen| seen.message == "segment rolled" && ours(seen));
    assert_eq!(rolled.len(), 1, "{rolled:?}");
    db.close().unwrap();
}
