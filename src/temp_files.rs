//! Temporary files the process must not leave behind, even when it quits at once (a second
//! stop signal calls `std::process::exit`, which runs no destructor). Each file registers itself
//! when created and unregisters when its owner removes it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

static REGISTERED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn registered() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    REGISTERED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Remembers `path` for `remove_all`.
pub fn register(path: &Path) {
    registered().push(path.to_path_buf());
}

/// Forgets `path` (its owner removed it).
pub fn forget(path: &Path) {
    registered().retain(|p| p != path);
}

/// Removes every registered file; used right before quitting without unwinding.
pub fn remove_all() {
    for path in registered().drain(..) {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_what_is_registered_and_nothing_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let (kept, gone) = (dir.path().join("kept"), dir.path().join("gone"));
        std::fs::write(&kept, "x").unwrap();
        std::fs::write(&gone, "x").unwrap();
        register(&kept);
        register(&gone);
        forget(&kept);
        remove_all();
        assert!(kept.exists());
        assert!(!gone.exists());
    }
}
