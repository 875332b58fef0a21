//! Execution segments: one load split between N processes (pods of a Kubernetes Indexed Job,
//! machines, or processes on one machine) so that together they run exactly the load one
//! process would have run, with no coordinator.
//!
//! The idea is k6's: a segment is the fraction interval [i/N, (i+1)/N) of the whole, and every
//! countable unit of the load (virtual user, arrival, iteration) is numbered globally and given
//! to exactly one segment. orysim's segments are equal (an Indexed Job's pods are alike), so the
//! striping is the simplest one: unit `k` belongs to segment `k mod N`. From that one rule:
//!
//! * counts split exactly: the shares of any count add up to it, and differ by at most one;
//! * no two segments own the same virtual-user id, and together they own every id;
//! * splits are prefix-consistent: of the first `k` units, segment `i` owns exactly
//!   `share(k)`. A ramp from 0 to `L` virtual users, or an iteration limit reached part-way,
//!   therefore splits exactly at every moment, not only at the end;
//! * the open model needs no rate arithmetic: every segment computes the whole run's arrival
//!   schedule and keeps every N-th arrival ([`Segment::stride`]), so the union of the segments'
//!   schedules is the single-process schedule, arrival for arrival.
//!
//! How a run uses a segment: it plans the whole load as if it were alone (same profile, same
//! group ranges of virtual-user ids), then starts only the ids it [owns](Segment::owned), lets
//! each of them follow the global stage level by its global id (a user runs while its id lies
//! below the level, as without segments), keeps its [stride](Segment::stride) of the arrival
//! schedule, and takes its [share](Segment::share) of `--iterations`. Generated names carry
//! [`Segment::tag_suffix`] and per-process randomness comes from [`Segment::seed`].
//!
//! Pools of written entities, read/write mixes and setup are per process: a segment's readers
//! read what its own writers wrote. A flow's dedicated writers and the open model's
//! `--max-vus` must therefore give every segment at least one
//! ([`Segment::check_each_gets_one`]).

mod parse;

pub use parse::COMPLETION_INDEX_VAR;

use crate::config::profile::{Profile, Stage};
use crate::ground::parse::UsageError;
use std::fmt;
use std::ops::Range;

/// Segment `index` (0-based) of `count` equal segments. [`Segment::WHOLE`] is the whole load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Segment {
    count: u32,
    index: u32,
}

impl Default for Segment {
    fn default() -> Self {
        Segment::WHOLE
    }
}

/// Anything counted in whole units that a segment takes its share of.
pub trait Count: Copy {
    fn to_u64(self) -> u64;
    fn from_u64(v: u64) -> Self;
}

macro_rules! count {
    ($($t:ty),*) => {$(
        impl Count for $t {
            fn to_u64(self) -> u64 {
                self as u64
            }
            // A share never exceeds the count it was taken from, so it fits the same type.
            fn from_u64(v: u64) -> Self {
                v as $t
            }
        }
    )*};
}
count!(u32, u64, usize);

impl Segment {
    /// One process running everything: every share is the whole.
    pub const WHOLE: Segment = Segment { count: 1, index: 0 };

    /// 1-based number, as written in `--segment 2/8`.
    pub fn number(self) -> u32 {
        self.index + 1
    }

    /// 0-based index, as in `JOB_COMPLETION_INDEX`.
    pub fn index(self) -> u32 {
        self.index
    }

    /// How many segments the load is split into.
    pub fn count(self) -> u32 {
        self.count
    }

    pub fn is_whole(self) -> bool {
        self.count == 1
    }

    /// Whether global unit `id` (a virtual-user id, an arrival's sequence number) is this
    /// segment's.
    pub fn owns(self, id: u64) -> bool {
        id % u64::from(self.count) == u64::from(self.index)
    }

    /// This segment's share of `whole` units: how many of units `0..whole` it owns. The shares
    /// of all segments add up to `whole` exactly and differ by at most one (the lower-numbered
    /// segments take the remainder).
    pub fn share<T: Count>(self, whole: T) -> T {
        let (w, n) = (whole.to_u64(), u64::from(self.count));
        T::from_u64(w / n + u64::from(w % n > u64::from(self.index)))
    }

    /// How many of the units in `range` this segment owns. Used for a part of a larger
    /// numbering, such as one scenario group's or one flow's virtual users, so that the
    /// remainders of consecutive parts fall on different segments.
    pub fn share_of<T: Count>(self, range: Range<T>) -> T {
        let (start, end) = (range.start.to_u64(), range.end.to_u64());
        if end <= start {
            return T::from_u64(0);
        }
        T::from_u64(self.share(end) - self.share(start))
    }

    /// The global ids in `range` this segment owns, ascending.
    pub fn owned(self, range: Range<usize>) -> impl Iterator<Item = usize> {
        let n = self.count as usize;
        let first = range.start + (self.index as usize + n - range.start % n) % n;
        (first..range.end.max(first)).step_by(n)
    }

    /// Fails when `count` units of something every segment needs (the dedicated virtual
    /// users of a flow that others depend on, such as a writer feeding the readers' pools;
    /// the open model's `--max-vus`) cannot give each segment at least one. Pools, read/write
    /// mixes and setup are per process, so a segment without its own writer would only wait.
    pub fn check_each_gets_one(self, what: &str, count: u64) -> Result<(), UsageError> {
        let n = u64::from(self.count);
        if count == 0 || count >= n {
            return Ok(());
        }
        Err(UsageError(format!(
            "{what}: {count} is too few for {n} segments, each needs at least one \
             (give at least {n}, or run at most {count} segments)"
        )))
    }

    /// This segment's items of a globally numbered sequence, such as the whole run's arrival
    /// schedule: items `index`, `index + N`, `index + 2N`, ... The other items are computed
    /// and skipped, which costs a few arithmetic operations each.
    pub fn stride<I: Iterator>(self, all: I) -> std::iter::StepBy<std::iter::Skip<I>> {
        all.skip(self.index as usize).step_by(self.count as usize)
    }

    /// This segment's nominal share of a rate (iterations per second), for display and for
    /// sizing what scales with the rate. The arrivals themselves come from
    /// [`Segment::stride`], which is exact; the shares of all segments add up to `rate` within
    /// floating-point rounding.
    pub fn rate(self, per_second: f64) -> f64 {
        per_second / f64::from(self.count)
    }

    /// Virtual-user stages with every target replaced by this segment's share of it. The
    /// targets of all segments add up exactly at every stage boundary. Between boundaries,
    /// rounding each segment's own ramp could leave up to N−1 users missing, so an engine that
    /// wants exactness at every instant follows the whole profile and starts a user when its
    /// global id is below the level (see the module documentation).
    pub fn vu_stages(self, whole: &Profile) -> Profile {
        map_levels(whole, |level| {
            self.share(level.max(0.0).round() as u64) as f64
        })
    }

    /// Rate stages with every target scaled to this segment's share, for display and sizing;
    /// the exact schedule is the whole profile's, [strided](Segment::stride).
    pub fn rate_stages(self, whole: &Profile) -> Profile {
        map_levels(whole, |rate| self.rate(rate))
    }

    /// The seed for this segment's own randomness, derived from the run seed: the whole
    /// load keeps the run seed, and every segment of a split gets a different stream (also
    /// from the segments of a split into a different number of parts).
    pub fn seed(self, run_seed: u64) -> u64 {
        if self.is_whole() {
            return run_seed;
        }
        let which = (u64::from(self.count) << 32) | u64::from(self.index);
        splitmix64(run_seed ^ splitmix64(which))
    }

    /// Appended to the run tag in generated names (emails, object ids, client names) so that
    /// segments of one run never generate the same name: empty for the whole load, `-2of8`
    /// for segment 2 of 8. Lowercase ASCII letters, digits and `-` only.
    pub fn tag_suffix(self) -> String {
        if self.is_whole() {
            String::new()
        } else {
            format!("-{}of{}", self.number(), self.count)
        }
    }
}

/// The same stages with every level (the start and each target) mapped by `f`.
fn map_levels(whole: &Profile, f: impl Fn(f64) -> f64) -> Profile {
    Profile {
        start: f(whole.start),
        stages: whole
            .stages
            .iter()
            .map(|s| Stage {
                duration: s.duration,
                target: f(s.target),
            })
            .collect(),
    }
}

/// The finaliser of splitmix64: neighbouring inputs give unrelated outputs.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl fmt::Display for Segment {
    /// `2/8`, the form `--segment` takes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.number(), self.count)
    }
}

impl serde::Serialize for Segment {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Segment {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Checks that `segments` (of the reports about to be merged) are the whole load exactly
/// once: all of one split, none missing, none twice. The error is one line.
pub fn check_cover(segments: &[Segment]) -> Result<(), String> {
    let Some(first) = segments.first() else {
        return Err("no segments".into());
    };
    let n = first.count;
    if let Some(other) = segments.iter().find(|s| s.count != n) {
        return Err(format!(
            "segments of different splits: {first} and {other} (every report must come from the same --segment I/{n})"
        ));
    }
    let mut seen = vec![0u32; n as usize];
    for s in segments {
        seen[s.index as usize] += 1;
    }
    let list = |want: fn(u32) -> bool| -> Vec<String> {
        (0..n)
            .filter(|&i| want(seen[i as usize]))
            .map(|i| Segment { count: n, index: i }.to_string())
            .collect()
    };
    let twice = list(|c| c > 1);
    if !twice.is_empty() {
        return Err(format!("segment {} given more than once", twice.join(", ")));
    }
    let missing = list(|c| c == 0);
    if !missing.is_empty() {
        return Err(format!(
            "segment {} missing: the merge would not be the whole load",
            missing.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
