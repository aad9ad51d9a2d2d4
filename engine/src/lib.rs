//! infinitedb: an embeddable storage engine for versioned records at points of
//! multi-dimensional spaces.
#![forbid(unsafe_code)]

pub mod keyspace;
