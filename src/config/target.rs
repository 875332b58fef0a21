//! Where the load goes: the endpoints given by flags, environment or config file (in that
//! order), checked against the services the scenario needs.

use super::Target;
use crate::cli::TargetArgs;
use crate::ground::parse::{parse_base_url, strip_userinfo, usage, UsageError};
use crate::ground::{Endpoint, Endpoints, PerEndpoint, Service};
use serde::Deserialize;

/// The `[targets]` table of a config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileTargets {
    kratos_public: Option<String>,
    kratos_admin: Option<String>,
    hydra_public: Option<String>,
    hydra_admin: Option<String>,
    keto_read: Option<String>,
    keto_write: Option<String>,
}

impl FileTargets {
    fn get(&self, e: Endpoint) -> Option<&String> {
        match e {
            Endpoint::KratosPublic => self.kratos_public.as_ref(),
            Endpoint::KratosAdmin => self.kratos_admin.as_ref(),
            Endpoint::HydraPublic => self.hydra_public.as_ref(),
            Endpoint::HydraAdmin => self.hydra_admin.as_ref(),
            Endpoint::KetoRead => self.keto_read.as_ref(),
            Endpoint::KetoWrite => self.keto_write.as_ref(),
        }
    }
}

pub(super) fn resolve_target(
    cli: &TargetArgs,
    file: &FileTargets,
    services: &[Service],
) -> Result<Target, UsageError> {
    // clap has already merged flag > environment; the file comes last.
    let given: PerEndpoint<Option<&String>> =
        PerEndpoint::from_fn(|e| cli.get(e).or(file.get(e)).filter(|s| !s.trim().is_empty()));
    if given.0.iter().all(Option::is_none) {
        return Ok(Target::BuiltinSimulator);
    }
    let missing: Vec<String> = given
        .iter()
        .filter(|(e, v)| services.contains(&e.service()) && v.is_none())
        .map(|(e, _)| format!("{} (or {})", e.env(), e.flag()))
        .collect();
    if !missing.is_empty() {
        return usage(format!(
            "some endpoints are configured but the chosen scope also needs: {}; set them, \
             or unset all endpoints to use the built-in simulator",
            missing.join(", ")
        ));
    }
    let mut urls = Endpoints::default();
    for (e, value) in given.iter() {
        if let Some(v) = value {
            urls[e] = Some(parse_base_url(&format!("{} ({})", e.flag(), e.env()), v)?);
        }
    }
    Ok(Target::Remote(Box::new(urls)))
}

/// Endpoint name → URL (userinfo stripped), for the report and the summary.
pub fn endpoint_urls(endpoints: &Endpoints) -> Vec<(&'static str, String)> {
    endpoints
        .iter()
        .filter_map(|(e, url)| url.as_ref().map(|u| (e.name(), strip_userinfo(u.as_str()))))
        .collect()
}
