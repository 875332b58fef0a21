//! The live progress line on stderr: elapsed and remaining time, requests/s and errors so far.
//! Fed from the recorder's cheap running totals a few times a second; never on the hot path.

use crate::metrics::Recorder;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Progress {
    bar: ProgressBar,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    pub fn start(recorder: Arc<Recorder>, duration: Option<Duration>) -> Progress {
        let bar = match duration {
            Some(d) => {
                let bar = ProgressBar::with_draw_target(
                    Some(d.as_millis() as u64),
                    ProgressDrawTarget::stderr_with_hz(4),
                );
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {wide_bar} {eta:>4} left  {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar
            }
            None => {
                let bar =
                    ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] until Ctrl-C  {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar
            }
        };
        let started = Instant::now();
        let ticker = bar.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let elapsed = started.elapsed();
                let totals = recorder.totals();
                let rate = totals.requests as f64 / elapsed.as_secs_f64().max(1e-3);
                ticker.set_position(elapsed.as_millis() as u64);
                ticker.set_message(format!(
                    "{rate:.0} req/s  {} requests  {} errors",
                    totals.requests, totals.errors
                ));
            }
        });
        Progress { bar, task }
    }

    pub fn finish(self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}
