//! Back from a report to a mergeable `Snapshot`: the histograms' encoding, and the checks
//! that what a file says is consistent.

use super::schema::*;
use crate::ground::{ErrorClass, MetricKey, Op, Verdict};
use crate::metrics::{
    new_latency_histogram, FlowInfo, FlowKey, FlowStats, LatencyHistogram, OpStats, Snapshot,
};
use anyhow::{anyhow, bail, Context};
use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};

/// Base64 (standard alphabet, padded) of the HdrHistogram V2 + deflate encoding: the format
/// HdrHistogram's Java, Python, Go and JS ports decode as a "compressed histogram".
pub fn encode_histogram(h: &LatencyHistogram) -> String {
    let mut bytes = Vec::new();
    // Serialising into a Vec cannot fail for an in-range u64 histogram; an empty string would
    // make `snapshot()` fail loudly rather than silently lose data.
    if V2DeflateSerializer::new().serialize(h, &mut bytes).is_err() {
        return String::new();
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes [`encode_histogram`]'s output into the crate's one histogram shape.
pub fn decode_histogram(encoded: &str) -> anyhow::Result<LatencyHistogram> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .context("histogram is not valid base64")?;
    let decoded: LatencyHistogram = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow!("histogram is not a valid HdrHistogram V2 encoding: {e}"))?;
    let mut h = new_latency_histogram();
    h.add(&decoded)
        .map_err(|e| anyhow!("histogram does not fit orysim's latency range: {e:?}"))?;
    Ok(h)
}

impl Report {
    /// Rebuilds the mergeable snapshot the report was built from (counts, verdicts, error
    /// classes and both histograms, without loss).
    pub fn snapshot(&self) -> anyhow::Result<Snapshot> {
        let mut snap = Snapshot::default();
        for o in &self.operations {
            let stats = o.to_stats().with_context(|| match &o.step {
                None => format!("operation `{}` in the report", o.name),
                Some(step) => format!("operation `{}` of step `{step}` in the report", o.name),
            })?;
            snap.insert(stats);
        }
        for f in &self.flows {
            let stats = f
                .to_stats()
                .with_context(|| format!("flow `{}/{}` in the report", f.scenario, f.name))?;
            snap.insert_flow(stats);
        }
        Ok(snap)
    }
}

impl FlowReport {
    fn to_stats(&self) -> anyhow::Result<FlowStats> {
        let mut stats = FlowStats::new(FlowInfo {
            key: FlowKey::new(&self.scenario, &self.name),
            service: self.service,
            steps: usize::try_from(self.steps).context("field `steps`")?,
        });
        stats.ok = self.ok;
        for (key, &n) in &self.error_classes {
            let class =
                ErrorClass::from_key(key).ok_or_else(|| anyhow!("unknown error class `{key}`"))?;
            *stats.errors.entry(class).or_insert(0) += n;
        }
        stats.duration = decode_histogram(&self.histogram).context("field `histogram`")?;
        stats.uncorrected = match &self.histogram_uncorrected {
            Some(enc) => Some(decode_histogram(enc).context("field `histogram_uncorrected`")?),
            None => None,
        };
        if stats.count() != self.count || stats.duration.len() != self.count {
            bail!(
                "ok and error classes add up to {} and the histogram holds {}, but count is {}",
                stats.count(),
                stats.duration.len(),
                self.count
            );
        }
        Ok(stats)
    }
}

impl OperationReport {
    fn to_stats(&self) -> anyhow::Result<OpStats> {
        let op = Op::from_name(&self.name).ok_or_else(|| anyhow!("unknown operation"))?;
        let key = match &self.step {
            None => MetricKey::op(op),
            Some(step) => MetricKey::step(op, step),
        };
        let mut stats = OpStats::for_key(&key);
        for (name, &n) in &self.outcomes {
            let v = Verdict::from_name(name).ok_or_else(|| anyhow!("unknown outcome `{name}`"))?;
            stats.verdicts[v.index()] += n;
        }
        for (key, &n) in &self.error_classes {
            let class =
                ErrorClass::from_key(key).ok_or_else(|| anyhow!("unknown error class `{key}`"))?;
            *stats.errors.entry(class).or_insert(0) += n;
        }
        stats.latency = decode_histogram(&self.histogram).context("field `histogram`")?;
        stats.uncorrected = match &self.histogram_uncorrected {
            Some(enc) => Some(decode_histogram(enc).context("field `histogram_uncorrected`")?),
            None => None,
        };
        if let Some(c) = &self.checks {
            stats.checks = crate::metrics::BatchChecks {
                allowed: c.allowed,
                denied: c.denied,
                failed: c.failed,
            };
            if stats.checks.total() != c.count {
                bail!(
                    "checks: allowed, denied and failed add up to {} but count is {}",
                    stats.checks.total(),
                    c.count
                );
            }
        }
        if stats.count() != self.count {
            bail!(
                "outcomes and error classes add up to {} but count is {}",
                stats.count(),
                self.count
            );
        }
        if stats.latency.len() != self.count {
            bail!(
                "histogram holds {} values but count is {}",
                stats.latency.len(),
                self.count
            );
        }
        Ok(stats)
    }
}
