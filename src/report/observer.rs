//! What happens to each interval while a run goes on: appended to the series file, printed as
//! one line when asked, and fed to the thresholds (which may abort the run). Runs as its own
//! task on the receiving end of the sampler's channel, the file work on the blocking pool, so
//! none of it slows the load.

use super::intervals::{Header, IntervalRecord, Record, SeriesWriter};
use super::summary::format_latency;
use super::thresholds::{Evaluator, Threshold};
use crate::engine::sampler::IntervalSample;
use crate::engine::AbortHandle;
use crate::ground::{Kind, Op};
use std::path::PathBuf;
use tokio::sync::mpsc;

/// What the observer was told to do.
pub struct ObserverPlan {
    /// Write the series here (beside the report); `None` without a report.
    pub series: Option<(PathBuf, Header)>,
    /// Print one line per interval on stderr.
    pub lines: bool,
    pub thresholds: Vec<Threshold>,
    pub abort: AbortHandle,
}

/// What the observer saw, for the report.
pub struct ObserverOutcome {
    pub evaluator: Evaluator,
    /// The series file and how many intervals it holds, when one was written.
    pub series: Option<(PathBuf, u64)>,
    /// Why the series could not be (completely) written.
    pub series_error: Option<String>,
}

/// Consumes intervals until the sampler hangs up.
pub async fn observe(
    plan: ObserverPlan,
    mut rx: mpsc::UnboundedReceiver<IntervalSample>,
) -> ObserverOutcome {
    let mut evaluator = Evaluator::new(&plan.thresholds);
    let mut series_error = None;
    let mut writer = match &plan.series {
        Some((path, header)) => match SeriesWriter::create(path, header) {
            Ok(w) => Some((w, header.clone(), 0u64)),
            Err(e) => {
                series_error = Some(format!(
                    "cannot write the interval series to {}: {e}",
                    path.display()
                ));
                None
            }
        },
        None => None,
    };
    while let Some(sample) = rx.recv().await {
        if plan.lines {
            eprintln!("{}", interval_line(&sample));
        }
        if let Some(expr) = evaluator.add_interval(sample.offset, sample.length, &sample.snapshot) {
            plan.abort.abort(format!("threshold {expr} failed"));
        }
        if let Some((mut w, header, written)) = writer.take() {
            // Encoding the histograms and the fsync happen off the runtime's workers: on a busy
            // or network disk an fsync takes seconds, and a worker blocked that long would
            // hold back every virtual user it serves.
            let index = sample.index;
            let appended = tokio::task::spawn_blocking(move || {
                let record = IntervalRecord::from_sample(&sample, &header);
                let result = w.append(&Record::Interval(Box::new(record)));
                (w, header, result)
            })
            .await;
            match appended {
                Ok((w, header, Ok(()))) => writer = Some((w, header, written + 1)),
                Ok((w, _, Err(e))) => {
                    series_error = Some(format!(
                        "the interval series {} stopped at interval {index}: {e}",
                        w.path().display()
                    ));
                }
                Err(e) => {
                    series_error = Some(format!(
                        "the interval series stopped at interval {index}: {e}"
                    ));
                }
            }
        }
    }
    ObserverOutcome {
        evaluator,
        series: writer.map(|(w, _, n)| (w.path().to_path_buf(), n)),
        series_error,
    }
}

/// `⏱️ 00:01:10  1,234.5 req/s  keto.check p99 4.2ms  errors 0` for `kubectl logs -f`.
pub fn interval_line(sample: &IntervalSample) -> String {
    let snap = &sample.snapshot;
    let seconds = sample.length.as_secs_f64();
    let rate = if seconds > 0.0 {
        snap.total_requests() as f64 / seconds
    } else {
        0.0
    };
    let end = sample.offset + sample.length;
    let secs = end.as_secs();
    // The main read: the busiest read operation of the interval.
    let main = snap
        .ops()
        .filter(|s| s.op.kind() == Kind::Read && s.count() > 0)
        .fold(
            None::<(Op, u64, &crate::metrics::LatencyHistogram)>,
            |best, s| match best {
                Some((_, n, _)) if n >= s.count() => best,
                _ => Some((s.op, s.count(), &s.latency)),
            },
        );
    let p99 = match main {
        Some((op, _, h)) => format!(
            "{} p99 {}",
            op.name(),
            format_latency(h.value_at_quantile(0.99))
        ),
        None => "no reads".to_string(),
    };
    let errors = snap.total_errors();
    let icon = if errors > 0 { "⚠️" } else { "⏱️" };
    format!(
        "{icon} {:02}:{:02}:{:02}  {rate:.1} req/s  {p99}  errors {errors}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}
