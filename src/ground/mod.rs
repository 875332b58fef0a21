//! The ground floor: what every layer may use and what uses nothing of theirs. Parsing of the
//! values users type (durations, rates, base URLs, source positions), the domain vocabulary
//! (service, kind, verdict, error class, outcome), the one table of operations, and the one
//! endpoint type.

pub mod endpoint;
pub mod ops;
pub mod parse;
pub mod text;
pub mod vocab;

pub use endpoint::{Endpoint, Endpoints, PerEndpoint};
pub use ops::{Op, Output};
pub use parse::UsageError;
pub use vocab::{AuthMethod, ErrorClass, Kind, MetricKey, Outcome, Service, Verdict};
