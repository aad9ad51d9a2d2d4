//! `INFINITEDB_BACKEND` steers `BackendRequest::Auto`, so a whole suite can be run on the
//! fallback backend without code changes; a typo is an error, not a silent default. One test
//! per binary: the environment is process-wide.

use uring_io::{BACKEND_ENV_VAR, BackendKind, BackendRequest, IoError, OsStorage, Storage};

#[test]
fn environment_variable_overrides_auto() {
    // Goal: Auto honours the variable, explicit requests ignore it, typos fail. Method: set the
    // variable to each value in turn and open storages.
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: this binary runs a single test, so no other thread reads the environment.
    unsafe { std::env::set_var(BACKEND_ENV_VAR, "fallback") };
    let fallback = OsStorage::open(dir.path(), BackendRequest::Auto).unwrap();
    assert_eq!(fallback.info().kind, BackendKind::Fallback);
    assert!(
        fallback
            .info()
            .reason
            .contains("INFINITEDB_BACKEND=fallback")
    );
    let buffered = OsStorage::open(dir.path(), BackendRequest::Buffered).unwrap();
    assert_eq!(buffered.info().kind, BackendKind::Buffered);
    // SAFETY: as above.
    unsafe { std::env::set_var(BACKEND_ENV_VAR, "buffered") };
    let buffered = OsStorage::open(dir.path(), BackendRequest::Auto).unwrap();
    assert_eq!(buffered.info().kind, BackendKind::Buffered);
    // SAFETY: as above.
    unsafe { std::env::set_var(BACKEND_ENV_VAR, "bufferd") };
    let typo = OsStorage::open(dir.path(), BackendRequest::Auto).unwrap_err();
    assert!(matches!(typo, IoError::BackendUnavailable { .. }));
    // SAFETY: as above.
    unsafe { std::env::remove_var(BACKEND_ENV_VAR) };
    let auto = OsStorage::open(dir.path(), BackendRequest::Auto).unwrap();
    eprintln!(
        "auto here: {} — {}",
        auto.info().kind.name(),
        auto.info().reason
    );
    assert_ne!(
        auto.info().kind,
        BackendKind::Buffered,
        "ext4 supports O_DIRECT"
    );
}
