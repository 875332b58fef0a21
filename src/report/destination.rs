//! Where the report goes, checked before the load so that a path that cannot take it is found
//! in a second, not after the whole run. A regular file (or a new path) is replaced atomically
//! (temporary file, then rename); a symbolic link is followed, so its target is replaced and
//! the link kept. Standard output and error (`/dev/stdout`, `/dev/fd/N`) and `/dev/null` are
//! written through; any other device, a FIFO or a directory is refused, never replaced.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

#[derive(Debug, PartialEq, Eq)]
pub enum Destination {
    /// Replaced atomically: a regular file or a new path (symbolic links resolved).
    Replace(PathBuf),
    /// Opened and written in place: a stream the user clearly meant.
    WriteThrough(PathBuf),
}

/// Streams a report is clearly meant to be written into.
fn is_stream_meant(path: &Path) -> bool {
    let text = path.to_string_lossy();
    matches!(&*text, "/dev/stdout" | "/dev/stderr" | "/dev/null")
        || text.starts_with("/dev/fd/")
        || text.starts_with("/proc/self/fd/")
}

/// Checks `path` and says how the report will be written; one line when it cannot be.
pub fn check(path: &Path) -> Result<Destination, String> {
    check_for("--report", path)
}

/// [`check`] for the path given with `flag` (`--report`, `--html`).
pub fn check_for(flag: &str, path: &Path) -> Result<Destination, String> {
    let shown = path.display();
    let or_none = if flag == "--report" {
        ", or --no-report"
    } else {
        ""
    };
    if is_stream_meant(path) {
        return Ok(Destination::WriteThrough(path.to_path_buf()));
    }
    let resolved = match std::fs::metadata(path) {
        Ok(meta) => {
            let kind = meta.file_type();
            let what = if kind.is_dir() {
                Some("a directory")
            } else if kind.is_fifo() {
                Some("a FIFO")
            } else if kind.is_char_device() || kind.is_block_device() {
                Some("a device")
            } else if kind.is_socket() {
                Some("a socket")
            } else {
                None
            };
            if let Some(what) = what {
                return Err(format!(
                    "{flag} {shown} is {what}, not a file: give a file path (or /dev/stdout{or_none})"
                ));
            }
            std::fs::canonicalize(path)
                .map_err(|e| format!("{flag} {shown}: cannot resolve the path: {e}"))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::fs::symlink_metadata(path).is_ok() {
                return Err(format!(
                    "{flag} {shown} is a symbolic link to nothing: give a file path"
                ));
            }
            path.to_path_buf()
        }
        Err(e) => return Err(format!("{flag} {shown}: {e}")),
    };
    probe_directory(&resolved).map_err(|e| format!("{flag} {shown} cannot be written: {e}"))?;
    Ok(Destination::Replace(resolved))
}

/// Creates the report's directory if needed and makes sure a file can be created in it (the
/// atomic write's temporary file), leaving nothing behind.
fn probe_directory(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let probe = dir.join(format!(".orysim-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

/// Writes `report` where `check` said.
pub fn write(dest: &Destination, report: &super::json::Report) -> std::io::Result<()> {
    let mut json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    json.push(b'\n');
    write_bytes(dest, &json)
}

/// Writes `bytes` where `check` said.
pub fn write_bytes(dest: &Destination, bytes: &[u8]) -> std::io::Result<()> {
    match dest {
        Destination::Replace(path) => super::json::write_file_atomic(path, bytes),
        Destination::WriteThrough(path) => {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
            f.write_all(bytes)?;
            f.flush()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_new_paths_are_replaced_links_followed_the_rest_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.json");
        assert_eq!(check(&file), Ok(Destination::Replace(file.clone())));
        std::fs::write(&file, "{}").unwrap();
        let real = std::fs::canonicalize(&file).unwrap();
        assert_eq!(check(&file), Ok(Destination::Replace(real.clone())));
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(check(&link), Ok(Destination::Replace(real)));
        let nested = dir.path().join("a/b/r.json");
        assert!(check(&nested).is_ok(), "missing directories are created");

        assert!(check(dir.path()).unwrap_err().contains("a directory"));
        assert!(check(Path::new("/dev/full"))
            .unwrap_err()
            .contains("a device"));
        assert!(check(Path::new("/proc/orysim.json")).is_err());
        let dangling = dir.path().join("dangling.json");
        std::os::unix::fs::symlink(dir.path().join("nothing/here"), &dangling).unwrap();
        assert!(check(&dangling).is_err());
        assert_eq!(
            check(Path::new("/dev/stdout")),
            Ok(Destination::WriteThrough("/dev/stdout".into()))
        );
        assert!(!check(dir.path()).unwrap_err().contains('\n'));
    }
}
