//! The simulated disk for fault injection and crash tests (in progress).
