//! Limits no sane run reaches but that stop a typo (`-c 99999999999`, `--rate 1e9/s`) before
//! it becomes gigabytes of memory and tens of thousands of sockets, and bounded reads of every
//! file orysim opens (`--config /dev/zero` must not read forever). `--help` and docs state them.

use std::io::Read;
use std::path::Path;

/// Most virtual users: `--concurrency`, `--max-vus`, a `--stages` target.
pub const MAX_VIRTUAL_USERS: usize = 100_000;
/// Highest arrival rate: `--rate`, a rate `--stages` target.
pub const MAX_RATE_PER_SECOND: f64 = 1_000_000.0;
/// Most arrivals waiting for a free virtual user in the open model, whatever the rate: the
/// backlog's memory stays bounded (16 bytes an arrival).
pub const MAX_BACKLOG: usize = 100_000;
/// Largest `--config` file.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Largest scenario file (each included file too).
pub const MAX_SCENARIO_BYTES: u64 = 8 << 20;

/// Why a file could not be read as text.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    /// Larger than the cap (in bytes).
    TooLarge(u64),
    /// Not UTF-8: 1-based line and column of the first bad byte.
    NotUtf8 {
        line: usize,
        col: usize,
    },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::TooLarge(cap) => {
                write!(f, "larger than {} MiB, the most orysim reads", cap >> 20)
            }
            ReadError::NotUtf8 { .. } => f.write_str("not UTF-8 text"),
        }
    }
}

/// Reads `path` as UTF-8 text of at most `cap` bytes, never reading more than one byte beyond.
pub fn read_text(path: &Path, cap: u64) -> Result<String, ReadError> {
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge(cap));
    }
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        // Valid up to there by definition.
        let text = std::str::from_utf8(good).unwrap_or_default();
        let line = text.matches('\n').count() + 1;
        let col = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ReadError::NotUtf8 { line, col }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_capped_and_bad_utf8_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"ab\ncd\xC3\xA9\xFFz").unwrap();
        match read_text(&p, 100) {
            Err(ReadError::NotUtf8 { line, col }) => assert_eq!((line, col), (2, 4)),
            other => panic!("{other:?}"),
        }
        std::fs::write(&p, vec![b'a'; 101]).unwrap();
        assert!(matches!(read_text(&p, 100), Err(ReadError::TooLarge(100))));
        assert_eq!(read_text(&p, 101).unwrap().len(), 101);
        // An endless device is read only up to the cap.
        assert!(matches!(
            read_text(Path::new("/dev/zero"), 1 << 20),
            Err(ReadError::TooLarge(_))
        ));
    }
}
