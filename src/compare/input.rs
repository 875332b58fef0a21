//! The runs a comparison reads: each report, and its interval series turned into bootstrap
//! samples per subject (service or operation).

use super::model::Subject;
use super::stats::{grid_index, Sample};
use crate::metrics::LatencyHistogram;
use crate::report::intervals::{read_series, IntervalRecord};
use crate::report::json::{decode_histogram, load, OperationReport, Report};
use anyhow::{anyhow, Context};
use std::collections::BTreeMap;
use std::path::Path;

/// Most samples kept per run: longer series are cut into this many batches of neighbouring
/// intervals (batch means), which bounds memory and time and weakens their autocorrelation.
pub const MAX_SAMPLES: usize = 60;

/// One run: its report and its samples.
#[derive(Clone, Debug)]
pub struct Run {
    /// The report file as given.
    pub file: String,
    pub report: Report,
    /// Measured seconds of each sample (batches of intervals, or the whole run).
    pub seconds: Vec<f64>,
    /// Per subject, one sample per entry of `seconds`; a subject missing from a sample made no
    /// call in it.
    pub samples: BTreeMap<Subject, Vec<Option<Sample>>>,
    /// Interval records read from the series (0: the run is one sample).
    pub intervals: u64,
    /// Why the series was not used, when the report names one.
    pub note: Option<String>,
}

impl Run {
    /// Reads a report and, when it has one, its interval series. Errors name the file.
    pub fn load(path: &Path) -> anyhow::Result<Run> {
        let report = load(path).map_err(|e| anyhow!("{e:#}"))?;
        if report.tool != crate::report::json::TOOL_NAME {
            return Err(anyhow!(
                "{} was written by `{}`, not orysim",
                path.display(),
                report.tool
            ));
        }
        let file = path.display().to_string();
        let series = report.series.as_ref().map(|s| {
            (
                path.parent().unwrap_or(Path::new(".")).join(&s.file),
                s.intervals,
            )
        });
        if let Some((series_path, expected)) = series {
            if series_path.exists() {
                return match from_series(&series_path, expected) {
                    Ok((seconds, samples, intervals)) => Ok(Run {
                        file,
                        report,
                        seconds,
                        samples,
                        intervals,
                        note: None,
                    }),
                    Err(e) => Err(anyhow!(
                        "{}: its interval series is unreadable: {e:#}",
                        path.display()
                    )),
                };
            }
            let mut run = Run::whole(file, report).with_context(|| path.display().to_string())?;
            run.note = Some(format!(
                "{}: interval series {} not found; the run counts as one sample",
                run.file,
                series_path.display()
            ));
            return Ok(run);
        }
        Run::whole(file, report).with_context(|| path.display().to_string())
    }

    /// A run without a series: one sample, the whole run.
    pub fn whole(file: String, report: Report) -> anyhow::Result<Run> {
        let mut samples = BTreeMap::new();
        add_operations(&report.operations, &mut |subject, sample| {
            merge_into(&mut samples, subject, 0, 1, sample);
        })?;
        let seconds = vec![report.elapsed_seconds];
        Ok(Run {
            file,
            report,
            seconds,
            samples,
            intervals: 0,
            note: None,
        })
    }
}

/// The latency histogram on the bootstrap's grid.
pub fn on_grid(h: &LatencyHistogram) -> Vec<(u32, u64)> {
    let mut out: Vec<(u32, u64)> = Vec::new();
    for v in h.iter_recorded() {
        let i = grid_index(v.value_iterated_to());
        match out.last_mut() {
            Some(last) if last.0 == i => last.1 += v.count_at_value(),
            _ => out.push((i, v.count_at_value())),
        }
    }
    out
}

/// Each operation's sample, and each service's (its operations' calls and errors together).
fn add_operations(
    operations: &[OperationReport],
    each: &mut impl FnMut(Subject, Sample),
) -> anyhow::Result<()> {
    let mut services: BTreeMap<_, Sample> = BTreeMap::new();
    for op in operations {
        let histogram = decode_histogram(&op.histogram)
            .with_context(|| format!("operation `{}`: field `histogram`", op.name))?;
        let service = services.entry(op.service).or_default();
        service.calls += op.count;
        service.errors += op.errors;
        each(
            Subject::Operation {
                service: op.service,
                name: op.name.clone(),
                step: op.step.clone(),
            },
            Sample {
                seconds: 0.0,
                calls: op.count,
                errors: op.errors,
                latency: on_grid(&histogram),
            },
        );
    }
    for (service, sample) in services {
        each(Subject::Service { service }, sample);
    }
    Ok(())
}

fn merge_into(
    samples: &mut BTreeMap<Subject, Vec<Option<Sample>>>,
    subject: Subject,
    batch: usize,
    batches: usize,
    sample: Sample,
) {
    let slots = samples
        .entry(subject)
        .or_insert_with(|| vec![None; batches]);
    match &mut slots[batch] {
        Some(s) => s.absorb(&sample),
        slot => *slot = Some(sample),
    }
}

type SeriesSamples = (Vec<f64>, BTreeMap<Subject, Vec<Option<Sample>>>, u64);

/// Reads a series into at most [`MAX_SAMPLES`] batches of neighbouring intervals.
fn from_series(path: &Path, expected: u64) -> anyhow::Result<SeriesSamples> {
    let expected = expected.max(1) as usize;
    let per_batch = expected.div_ceil(MAX_SAMPLES);
    let batches = expected.div_ceil(per_batch);
    let mut seconds: Vec<f64> = vec![0.0; batches];
    let mut samples = BTreeMap::new();
    let mut read = 0u64;
    read_series(path, |_, record: IntervalRecord| {
        // A series longer than the report says (it should not be) lands in the last batch.
        let batch = (read as usize / per_batch).min(batches - 1);
        read += 1;
        seconds[batch] += record.elapsed_seconds;
        add_operations(&record.operations, &mut |subject, mut sample| {
            sample.seconds = 0.0;
            merge_into(&mut samples, subject, batch, batches, sample);
        })
    })?;
    // Batches the series did not reach (a torn tail) are dropped.
    let used = (read as usize).div_ceil(per_batch).min(batches);
    seconds.truncate(used);
    for slots in samples.values_mut() {
        slots.truncate(used);
    }
    Ok((seconds, samples, read))
}
