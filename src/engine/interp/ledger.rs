//! A pool's ledger: every entry ever pushed, appended to a private temporary file, so that
//! cleanup can delete everything a run created however long it ran, while memory stays flat.
//! Only the fields cleanup reads are written (never, say, a password it does not need), and
//! the file is removed when the run ends.
//!
//! Entries are pushed by virtual users on the runtime's threads, which must never wait on a
//! disk (a write can block for seconds under dirty-page throttling or on a slow volume): lines
//! gather in memory and full chunks go to a writer thread of the ledger's own. If the disk
//! falls behind, chunks wait in memory up to a bound, beyond which lines are lost (as on a
//! full disk): cleanup then misses those entries, and the run goes on.

use crate::scenario::template::Value;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Mutex;
use std::thread::JoinHandle;

/// Lines are handed to the writer thread in chunks of about this size.
const CHUNK_BYTES: usize = 32 * 1024;
/// Chunks queued for the writer thread.
const QUEUED_CHUNKS: usize = 16;
/// Lines kept in memory while the queue is full, at most (then lines are lost).
const MAX_GATHERED_BYTES: usize = 4 * 1024 * 1024;

pub struct Ledger {
    path: PathBuf,
    pending: Mutex<Pending>,
    /// Number of fields of the pool; unwritten ones read back empty.
    width: usize,
    fields: Vec<usize>,
    entries: AtomicU64,
}

/// Lines not handed to the writer yet, and the writer (gone once the ledger is read back).
struct Pending {
    gathered: Vec<u8>,
    writer: Option<Writer>,
}

struct Writer {
    chunks: SyncSender<Vec<u8>>,
    thread: JoinHandle<()>,
}

impl Writer {
    fn start(mut file: File) -> std::io::Result<Writer> {
        let (chunks, queue) = sync_channel::<Vec<u8>>(QUEUED_CHUNKS);
        let thread = std::thread::Builder::new()
            .name("orysim-ledger".into())
            .spawn(move || {
                // A failed write ends the thread: the senders see it gone and drop lines.
                for chunk in queue {
                    if file.write_all(&chunk).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Writer { chunks, thread })
    }
}

impl Ledger {
    pub fn create(pool: &str, width: usize, fields: Vec<usize>) -> std::io::Result<Ledger> {
        let safe: String = pool
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let path = std::env::temp_dir().join(format!(
            "orysim-ledger-{}-{safe}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&path)?;
        crate::temp_files::register(&path);
        let writer = match Writer::start(file) {
            Ok(w) => w,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                crate::temp_files::forget(&path);
                return Err(e);
            }
        };
        Ok(Ledger {
            path,
            pending: Mutex::new(Pending {
                gathered: Vec::new(),
                writer: Some(writer),
            }),
            width,
            fields,
            entries: AtomicU64::new(0),
        })
    }

    pub fn append(&self, values: &[Value]) {
        let mut line = String::with_capacity(64);
        for (n, &i) in self.fields.iter().enumerate() {
            if n > 0 {
                line.push('\t');
            }
            escape(values.get(i).map_or("", |v| v), &mut line);
        }
        line.push('\n');
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let Pending { gathered, writer } = &mut *pending;
        let Some(writer) = writer else {
            return;
        };
        if gathered.len() + line.len() > MAX_GATHERED_BYTES {
            return;
        }
        gathered.extend_from_slice(line.as_bytes());
        self.entries.fetch_add(1, Ordering::Relaxed);
        if gathered.len() >= CHUNK_BYTES {
            match writer.chunks.try_send(std::mem::take(gathered)) {
                Ok(()) => {}
                // The disk is behind: keep gathering (bounded above).
                Err(TrySendError::Full(chunk)) => *gathered = chunk,
                // The writer failed: the lines are lost, as on a full disk.
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> u64 {
        self.entries.load(Ordering::Relaxed)
    }

    /// Stops writing (what is gathered is written first) and streams the entries back, each as
    /// a full-width row.
    pub fn reader(&self) -> std::io::Result<impl Iterator<Item = Vec<Value>> + '_> {
        let finished = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let rest = std::mem::take(&mut pending.gathered);
            pending.writer.take().inspect(|w| {
                if !rest.is_empty() {
                    let _ = w.chunks.send(rest);
                }
            })
        };
        if let Some(Writer { chunks, thread }) = finished {
            drop(chunks);
            // Outside the lock: the writer may still be catching up with a slow disk.
            let _ = thread.join();
        }
        let lines = BufReader::new(File::open(&self.path)?).lines();
        Ok(lines.map_while(Result::ok).map(|line| {
            let mut row = vec![Value::from(""); self.width];
            for (&i, field) in self.fields.iter().zip(line.split('\t')) {
                row[i] = Value::from(unescape(field));
            }
            row
        }))
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        crate::temp_files::forget(&self.path);
    }
}

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_chosen_fields_and_round_trips_awkward_text() {
        let ledger = Ledger::create("ids", 3, vec![0, 2]).unwrap();
        let path = ledger.path.clone();
        ledger.append(&[
            Value::from("a\tb\\c\nd"),
            Value::from("secret"),
            Value::from("x"),
        ]);
        ledger.append(&[Value::from("2"), Value::from("secret"), Value::from("")]);
        assert_eq!(ledger.len(), 2);
        let rows: Vec<Vec<Value>> = ledger.reader().unwrap().collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&*rows[0][0], "a\tb\\c\nd");
        assert_eq!(&*rows[0][1], "", "unwritten field");
        assert_eq!(&*rows[0][2], "x");
        assert!(!std::fs::read_to_string(&path).unwrap().contains("secret"));
        drop(ledger);
        assert!(!path.exists(), "the ledger file is removed with the ledger");
    }

    #[test]
    fn many_chunks_through_the_writer_thread_come_back_whole_and_in_order() {
        let ledger = Ledger::create("many", 1, vec![0]).unwrap();
        let n = 20_000;
        for i in 0..n {
            ledger.append(&[Value::from(format!("entry-{i}").as_str())]);
        }
        let rows: Vec<String> = ledger.reader().unwrap().map(|r| r[0].to_string()).collect();
        assert_eq!(rows.len(), n);
        assert!(rows
            .iter()
            .enumerate()
            .all(|(i, r)| *r == format!("entry-{i}")));
        // Read back once: later pushes are not written.
        ledger.append(&[Value::from("late")]);
        assert_eq!(ledger.reader().unwrap().count(), n);
    }
}
