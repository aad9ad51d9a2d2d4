//! The Hilbert keyspace: points to keys and back, boxes to key ranges (in progress).
