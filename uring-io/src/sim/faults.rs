//! Fault injection for the simulated disk: rules that match operations by kind, path and
//! occurrence and inject an errno or latency, a countdown that fails every operation after N
//! more, and a count of operations per kind for tests to assert on.
//!
//! A rule reads as a sentence:
//! ```
//! use std::time::Duration;
//! use uring_io::{Fault, OpMatch, SimStorage};
//! let sim = SimStorage::new(7);
//! // The third fsync of a hot segment fails with EIO.
//! sim.faults().on(OpMatch::fsync().path_contains("seg-").nth(3), Fault::Errno(libc::EIO));
//! // Every write to a hot segment stalls 50 ms.
//! sim.faults().on(OpMatch::write().path_contains("seg-"), Fault::Latency(Duration::from_millis(50)));
//! // One read in a hundred fails, drawn from the storage's seed.
//! sim.faults().on(OpMatch::read().probability(0.01), Fault::Errno(libc::EIO));
//! ```
//!
//! Invariants: every operation the storage performs passes through [`SimFaults::decide`]
//! exactly once per step (a chain is a write step and a sync step), in the order the storage
//! issues them, so counts and `nth` are exact and, with the same seed and the same order of
//! operations, random faults repeat. Rules are consulted in the order they were added; the
//! first errno wins and latencies add up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A kind of storage operation, as counted and matched by fault rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum OpKind {
    /// Opening an existing file (`copy_file`'s source too).
    Open,
    /// Creating a file or directory (`copy_file`'s target too).
    Create,
    /// Reading (each entry of a `read_many` counts once).
    Read,
    /// Writing (`write_durable`, a chain's write step, `create_prewritten`'s zero fill,
    /// `copy_file`'s copy).
    Write,
    /// fdatasync of a file (`write_durable`, a chain's sync step, `create_prewritten`,
    /// `copy_file`).
    Fsync,
    /// Truncating or extending a file.
    SetLen,
    /// Unlinking a file.
    Remove,
    /// Renaming a file.
    Rename,
    /// Making another name of a file (a hard link).
    Link,
    /// fsync of a directory (explicit, or implied by a creation).
    SyncDir,
}

/// Which paths a rule applies to.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum PathMatch {
    /// Every path.
    #[default]
    Any,
    /// Paths whose text contains this string.
    Contains(String),
    /// Paths under this prefix (component-wise, as [`Path::starts_with`]).
    Prefix(PathBuf),
    /// Paths the predicate accepts.
    Predicate(Arc<dyn Fn(&Path) -> bool + Send + Sync>),
}

impl PathMatch {
    fn accepts(&self, path: &Path) -> bool {
        match self {
            PathMatch::Any => true,
            PathMatch::Contains(text) => path.to_string_lossy().contains(text.as_str()),
            PathMatch::Prefix(prefix) => path.starts_with(prefix),
            PathMatch::Predicate(predicate) => predicate(path),
        }
    }
}

impl std::fmt::Debug for PathMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathMatch::Any => write!(f, "Any"),
            PathMatch::Contains(text) => write!(f, "Contains({text:?})"),
            PathMatch::Prefix(prefix) => write!(f, "Prefix({prefix:?})"),
            PathMatch::Predicate(_) => write!(f, "Predicate(..)"),
        }
    }
}

/// When a matching operation triggers the rule.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Trigger {
    /// Every matching operation.
    Every,
    /// Only the n-th matching operation after the rule was added (1-based), once.
    Nth(u64),
    /// Each matching operation with this probability, drawn from the storage's seeded RNG.
    Probability(f64),
}

/// Which operations a rule applies to: a kind (or any), a path filter and a trigger.
/// Built as a sentence: `OpMatch::fsync().path_contains("seg-").nth(3)`.
#[derive(Clone, Debug)]
pub struct OpMatch {
    /// The operation kind; `None` matches every kind.
    pub kind: Option<OpKind>,
    /// The path filter.
    pub path: PathMatch,
    /// When a match fires.
    pub trigger: Trigger,
}

impl OpMatch {
    /// Every operation of `kind`, on any path.
    pub fn kind(kind: OpKind) -> OpMatch {
        OpMatch {
            kind: Some(kind),
            path: PathMatch::Any,
            trigger: Trigger::Every,
        }
    }
    /// Every operation of any kind.
    pub fn any() -> OpMatch {
        OpMatch {
            kind: None,
            path: PathMatch::Any,
            trigger: Trigger::Every,
        }
    }
    /// Every read.
    pub fn read() -> OpMatch {
        OpMatch::kind(OpKind::Read)
    }
    /// Every write.
    pub fn write() -> OpMatch {
        OpMatch::kind(OpKind::Write)
    }
    /// Every file fdatasync.
    pub fn fsync() -> OpMatch {
        OpMatch::kind(OpKind::Fsync)
    }
    /// Every file or directory creation.
    pub fn create() -> OpMatch {
        OpMatch::kind(OpKind::Create)
    }
    /// Only paths containing `text`.
    pub fn path_contains(mut self, text: impl Into<String>) -> OpMatch {
        self.path = PathMatch::Contains(text.into());
        self
    }
    /// Only paths under `prefix`.
    pub fn path_prefix(mut self, prefix: impl Into<PathBuf>) -> OpMatch {
        self.path = PathMatch::Prefix(prefix.into());
        self
    }
    /// Only paths `predicate` accepts.
    pub fn path_matches(
        mut self,
        predicate: impl Fn(&Path) -> bool + Send + Sync + 'static,
    ) -> OpMatch {
        self.path = PathMatch::Predicate(Arc::new(predicate));
        self
    }
    /// Only the `n`-th match from now (1-based), once.
    pub fn nth(mut self, n: u64) -> OpMatch {
        debug_assert!(n >= 1, "nth is 1-based");
        self.trigger = Trigger::Nth(n);
        self
    }
    /// Each match with probability `p` (clamped to 0..=1).
    pub fn probability(mut self, p: f64) -> OpMatch {
        self.trigger = Trigger::Probability(p.clamp(0.0, 1.0));
        self
    }

    fn matches(&self, kind: OpKind, path: &Path) -> bool {
        self.kind.is_none_or(|wanted| wanted == kind) && self.path.accepts(path)
    }
}

/// What a triggered rule does to the operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The operation fails with this errno (`libc::EIO`, `libc::ENOSPC`, ...) and has no
    /// effect; a failed fsync also poisons the file and loses its unsynced writes.
    Errno(i32),
    /// The operation takes this much longer (real time: blocking calls sleep, chains complete
    /// later), so real deadlines fire.
    Latency(Duration),
    /// The operation is cancelled, as the io_uring queue cancels a chain at its deadline: a
    /// chain whose write or fsync step matches ends `Cancelled` at its deadline (after
    /// `DeadlineExceeded`; at its normal finish if it has none), its write left in the volatile
    /// cache, unsynced (it may or may not survive a crash), the file not poisoned. A blocking
    /// operation fails with `ECANCELED`.
    Cancel,
}

/// Identifies a rule, to remove it or ask how often it fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleId(pub u64);

#[derive(Debug)]
struct Rule {
    id: RuleId,
    matcher: OpMatch,
    fault: Fault,
    matched_count: u64,
    fired_count: u64,
}

#[derive(Debug)]
struct FaultState {
    rules: Vec<Rule>,
    rule_next: u64,
    /// `Some((remaining, errno))`: `remaining` more operations succeed, then all fail.
    countdown: Option<(u64, i32)>,
    counts: BTreeMap<OpKind, u64>,
    rng: ChaCha8Rng,
}

/// The fault decision for one operation step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) errno: Option<i32>,
    pub(crate) latency: Duration,
    pub(crate) cancel: bool,
}

/// The fault rules and operation counts of one [`crate::SimStorage`]; shared by its clones and
/// its commit queues. Get it with [`crate::SimStorage::faults`].
#[derive(Debug)]
pub struct SimFaults {
    state: Mutex<FaultState>,
}

impl SimFaults {
    pub(crate) fn new(seed: u64) -> SimFaults {
        SimFaults {
            state: Mutex::new(FaultState {
                rules: Vec::new(),
                rule_next: 0,
                countdown: None,
                counts: BTreeMap::new(),
                rng: ChaCha8Rng::seed_from_u64(seed),
            }),
        }
    }

    /// Adds a rule: operations `matcher` selects get `fault`. Returns its id.
    pub fn on(&self, matcher: OpMatch, fault: Fault) -> RuleId {
        let mut state = self.state.lock();
        let id = RuleId(state.rule_next);
        state.rule_next += 1;
        state.rules.push(Rule {
            id,
            matcher,
            fault,
            matched_count: 0,
            fired_count: 0,
        });
        id
    }

    /// Removes a rule; false if there was none with this id.
    pub fn remove(&self, id: RuleId) -> bool {
        let mut state = self.state.lock();
        let before = state.rules.len();
        state.rules.retain(|rule| rule.id != id);
        state.rules.len() != before
    }

    /// Removes every rule and the countdown (operation counts are kept).
    pub fn clear(&self) {
        let mut state = self.state.lock();
        state.rules.clear();
        state.countdown = None;
    }

    /// The next `operations` operations (of any kind) succeed; every one after fails with
    /// `errno` until [`SimFaults::clear`]. For operation fuzzers that crash at a countdown.
    pub fn fail_after(&self, operations: u64, errno: i32) {
        self.state.lock().countdown = Some((operations, errno));
    }

    /// How many times the rule fired (0 for an unknown id).
    pub fn fired(&self, id: RuleId) -> u64 {
        let state = self.state.lock();
        state
            .rules
            .iter()
            .find(|rule| rule.id == id)
            .map_or(0, |rule| rule.fired_count)
    }

    /// How many operations of `kind` were attempted (failed ones included).
    pub fn count(&self, kind: OpKind) -> u64 {
        self.state.lock().counts.get(&kind).copied().unwrap_or(0)
    }

    /// How many operations of every kind were attempted (failed ones included).
    pub fn count_total(&self) -> u64 {
        self.state.lock().counts.values().sum()
    }

    /// The fate of one operation step of `kind` on `path`: counts it, consults the countdown
    /// and every rule.
    pub(crate) fn decide(&self, kind: OpKind, path: &Path) -> Decision {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        *state.counts.entry(kind).or_default() += 1;
        let mut decision = Decision::default();
        if let Some((remaining, errno)) = state.countdown.as_mut() {
            if *remaining == 0 {
                decision.errno = Some(*errno);
            } else {
                *remaining -= 1;
            }
        }
        for rule in state.rules.iter_mut() {
            if !rule.matcher.matches(kind, path) {
                continue;
            }
            rule.matched_count += 1;
            let fires = match rule.matcher.trigger {
                Trigger::Every => true,
                Trigger::Nth(n) => rule.matched_count == n,
                Trigger::Probability(p) => state.rng.gen_bool(p),
            };
            if !fires {
                continue;
            }
            rule.fired_count += 1;
            match rule.fault {
                Fault::Errno(errno) => {
                    decision.errno = decision.errno.or(Some(errno));
                }
                Fault::Latency(latency) => decision.latency += latency,
                Fault::Cancel => decision.cancel = true,
            }
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_fires_once_on_the_nth_matching_operation_only() {
        let faults = SimFaults::new(1);
        let rule = faults.on(
            OpMatch::fsync().path_contains("seg-").nth(2),
            Fault::Errno(libc::EIO),
        );
        let seg = Path::new("/db/seg-1");
        assert_eq!(
            faults.decide(OpKind::Fsync, Path::new("/db/log")).errno,
            None
        );
        assert_eq!(faults.decide(OpKind::Write, seg).errno, None);
        assert_eq!(faults.decide(OpKind::Fsync, seg).errno, None);
        assert_eq!(faults.decide(OpKind::Fsync, seg).errno, Some(libc::EIO));
        assert_eq!(faults.decide(OpKind::Fsync, seg).errno, None);
        assert_eq!(faults.fired(rule), 1);
        assert_eq!(faults.count(OpKind::Fsync), 4);
        assert_eq!(faults.count(OpKind::Write), 1);
        assert_eq!(faults.count_total(), 5);
    }

    #[test]
    fn countdown_lets_n_operations_through_then_fails_all() {
        let faults = SimFaults::new(1);
        faults.fail_after(2, libc::ENOSPC);
        let path = Path::new("/f");
        let errnos: Vec<Option<i32>> = (0..4)
            .map(|_| faults.decide(OpKind::Write, path).errno)
            .collect();
        assert_eq!(
            errnos,
            vec![None, None, Some(libc::ENOSPC), Some(libc::ENOSPC)]
        );
        faults.clear();
        assert_eq!(faults.decide(OpKind::Write, path).errno, None);
    }

    #[test]
    fn latencies_add_up_and_prefix_filters_paths() {
        let faults = SimFaults::new(1);
        let ms = Duration::from_millis(1);
        faults.on(OpMatch::write().path_prefix("/hot"), Fault::Latency(ms));
        faults.on(
            OpMatch::any().path_matches(|p| p.ends_with("x")),
            Fault::Latency(ms),
        );
        assert_eq!(
            faults.decide(OpKind::Write, Path::new("/hot/x")).latency,
            2 * ms
        );
        assert_eq!(
            faults.decide(OpKind::Write, Path::new("/hotter")).latency,
            Duration::ZERO
        );
    }
}
