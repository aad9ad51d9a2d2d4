//! Copying a database directory, as an operator's `cp -r` would (shared by `support` and
//! `common`).

/// Copies the directory tree `source` into `target` (created), lock file included: a copy
/// without `LOCK` is refused as not a database.
pub fn copy_tree(source: &std::path::Path, target: &std::path::Path) {
    std::fs::create_dir_all(target).unwrap();
    for entry in std::fs::read_dir(source).unwrap() {
        let entry = entry.unwrap();
        let destination = target.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &destination);
        } else {
            std::fs::copy(entry.path(), destination).unwrap();
        }
    }
}
