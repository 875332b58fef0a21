//! Reports on disk: written atomically, read back with a schema check.

use super::schema::{Report, SCHEMA_VERSION, TOOL_NAME};
use anyhow::{bail, Context};
use serde::Deserialize;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes the report as pretty JSON, atomically: parent directories are created, the JSON goes
/// to a temporary file in the same directory, which is flushed to disk and then renamed over
/// `path`. A reader never sees a half-written report, and an interrupted write leaves the
/// previous report intact.
pub fn write_atomic(path: &Path, report: &Report) -> std::io::Result<()> {
    let mut json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    json.push(b'\n');
    write_file_atomic(path, &json)
}

/// Writes `bytes` to `path` the way [`write_atomic`] writes a report: a reader sees the old
/// file or the whole new one, never a part.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let file_name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("report path {} has no file name", path.display()),
        )
    })?;

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));

    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    // Make the rename itself durable where the platform allows it; failing here loses nothing.
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Loads a report written by any orysim whose schema this build understands.
pub fn load(path: &Path) -> anyhow::Result<Report> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read report {}", path.display()))?;

    #[derive(Deserialize)]
    struct Version {
        schema_version: Option<u32>,
    }
    let version: Version = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a JSON report", path.display()))?;
    #[derive(Deserialize)]
    struct Tool {
        tool: Option<String>,
    }
    if let Ok(Tool { tool: Some(tool) }) = serde_json::from_slice::<Tool>(&bytes) {
        if tool != TOOL_NAME {
            bail!(
                "{} was written by `{}`, not orysim: it is not an orysim report",
                path.display(),
                tool.escape_debug()
            );
        }
    }
    match version.schema_version {
        Some(0) => bail!(
            "{} uses report schema 0, which no orysim writes: it is not an orysim report",
            path.display()
        ),
        None => bail!(
            "{} has no schema_version: it is not an orysim report",
            path.display()
        ),
        Some(v) if v > SCHEMA_VERSION => bail!(
            "{} uses report schema {v}, newer than this orysim understands ({SCHEMA_VERSION}); \
             upgrade orysim",
            path.display()
        ),
        Some(_) => {}
    }
    serde_json::from_slice(&bytes).with_context(|| format!("invalid report {}", path.display()))
}
