//! A pool's ledger: every entry ever pushed, appended to a private temporary file, so that
//! cleanup can delete everything a run created however long it ran, while memory stays flat.
//! Only the fields cleanup reads are written (never, say, a password it does not need), and
//! the file is removed when the run ends.

use crate::scenario::template::Value;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

pub struct Ledger {
    path: PathBuf,
    writer: Mutex<Option<BufWriter<File>>>,
    /// Number of fields of the pool; unwritten ones read back empty.
    width: usize,
    fields: Vec<usize>,
    entries: AtomicU64,
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
        Ok(Ledger {
            path,
            writer: Mutex::new(Some(BufWriter::new(file))),
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
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        // A full disk loses ledger lines, not the run: cleanup then misses those entries.
        if let Some(w) = writer.as_mut() {
            if w.write_all(line.as_bytes()).is_ok() {
                self.entries.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> u64 {
        self.entries.load(Ordering::Relaxed)
    }

    /// Stops writing and streams the entries back, each as a full-width row.
    pub fn reader(&self) -> std::io::Result<impl Iterator<Item = Vec<Value>> + '_> {
        if let Some(mut w) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            w.flush()?;
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
}
