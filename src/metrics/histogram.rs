//! The one latency histogram shape used everywhere, so that any two can be merged without loss.

use hdrhistogram::Histogram;

pub type LatencyHistogram = Histogram<u64>;

/// Highest trackable latency: one hour, in microseconds. Longer values are clamped, never lost.
pub const LATENCY_MAX_US: u64 = 3_600_000_000;

/// 1 µs to one hour at 3 significant digits.
pub fn new_latency_histogram() -> LatencyHistogram {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, 3).expect("static histogram bounds are valid")
}
