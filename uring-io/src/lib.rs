//! All disk I/O of infinitedb: io_uring submission with O_DIRECT, linked fsyncs and deadline
//! timeouts, with fallback, buffered and simulated backends behind one interface.
