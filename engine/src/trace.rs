//! The engine's events and spans: [`event!`] and [`span!`], which forward to `tracing` when the
//! cargo feature `tracing` is on and compile to nothing when it is off.
//!
//! Invariants: an event carries its data as fields (`space = display(name), records = n`),
//! never as a formatted message, and its message is a fixed literal naming the decision
//! (`"seal"`, `"hedge"`). Events fire only at decisions (an open, a seal, a compaction, a
//! missed deadline, a failure), never once per write, so the I/O thread's path for a write
//! costs nothing more. Without a subscriber installed by the application `tracing` prints
//! nothing. With the feature off the arguments are type-checked but never evaluated, so a
//! call site reads the same both ways and warns of nothing unused.

/// Emits an event at `level` (`error`, `warn`, `info`, `debug` or `trace`) with the fixed
/// message `msg` and the fields `name = value`. A value is an integer, a `bool`, a `&str`,
/// or wrapped in [`display`] / [`debug`].
macro_rules! event {
    ($level:ident, $msg:literal $(, $field:ident = $value:expr)* $(,)?) => {{
        #[cfg(feature = "tracing")]
        {
            ::tracing::$level!($($field = $value,)* $msg);
        }
        #[cfg(not(feature = "tracing"))]
        {
            if false {
                $(let _ = &$value;)*
            }
        }
    }};
}
pub(crate) use event;

/// Enters an `info` span named `name` with the fields `name = value` for the rest of the
/// caller's scope: `let _span = trace::span!("open", path = trace::display(root));`. The events
/// of the work inside, on the same thread, have it as their parent. With the feature off it is
/// `()` and its arguments are never evaluated.
macro_rules! span {
    ($name:literal $(, $field:ident = $value:expr)* $(,)?) => {{
        #[cfg(feature = "tracing")]
        {
            ::tracing::info_span!($name $(, $field = $value)*).entered()
        }
        #[cfg(not(feature = "tracing"))]
        {
            if false {
                $(let _ = &$value;)*
            }
            crate::trace::NoSpan
        }
    }};
}
pub(crate) use span;

/// What [`span!`] gives with the feature off: nothing to enter or leave.
#[cfg(not(feature = "tracing"))]
pub(crate) struct NoSpan;

/// A field value recorded through its `Display` impl.
#[cfg(feature = "tracing")]
pub(crate) fn display<T: std::fmt::Display>(value: T) -> tracing::field::DisplayValue<T> {
    tracing::field::display(value)
}

/// A field value recorded through its `Display` impl (the feature is off: unused).
#[cfg(not(feature = "tracing"))]
pub(crate) fn display<T: std::fmt::Display>(value: T) -> T {
    value
}

/// A field value recorded through its `Debug` impl.
#[cfg(feature = "tracing")]
pub(crate) fn debug<T: std::fmt::Debug>(value: T) -> tracing::field::DebugValue<T> {
    tracing::field::debug(value)
}

/// A field value recorded through its `Debug` impl (the feature is off: unused).
#[cfg(not(feature = "tracing"))]
pub(crate) fn debug<T: std::fmt::Debug>(value: T) -> T {
    value
}
