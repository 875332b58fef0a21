//! The six Ory endpoints, as one type: what each is called in flags, environment variables,
//! config files, templates and reports, which service it belongs to, its default port; and
//! `PerEndpoint`, a value for each (URLs, ports) looked up by endpoint rather than by position.

use super::vocab::Service;
use reqwest::Url;
use std::ops::{Index, IndexMut};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    KratosPublic,
    KratosAdmin,
    HydraPublic,
    HydraAdmin,
    KetoRead,
    KetoWrite,
}

struct Facts {
    name: &'static str,
    flag: &'static str,
    env: &'static str,
    service: Service,
    describe: &'static str,
    ory_port: u16,
}

/// In `Endpoint` order. The environment variable names are the ones users already have from
/// the CockroachDB + Ory tutorial.
const FACTS: [Facts; 6] = [
    Facts {
        name: "kratos_public",
        flag: "--kratos-public",
        env: "KRATOS_PUBLIC_URL",
        service: Service::Kratos,
        describe: "Kratos public API",
        ory_port: 4433,
    },
    Facts {
        name: "kratos_admin",
        flag: "--kratos-admin",
        env: "KRATOS_ADMIN_URL",
        service: Service::Kratos,
        describe: "Kratos admin API",
        ory_port: 4434,
    },
    Facts {
        name: "hydra_public",
        flag: "--hydra-public",
        env: "HYDRA_PUBLIC_URL",
        service: Service::Hydra,
        describe: "Hydra public API",
        ory_port: 4444,
    },
    Facts {
        name: "hydra_admin",
        flag: "--hydra-admin",
        env: "HYDRA_ADMIN_URL",
        service: Service::Hydra,
        describe: "Hydra admin API",
        ory_port: 4445,
    },
    Facts {
        name: "keto_read",
        flag: "--keto-read",
        env: "KETO_READ_REMOTE",
        service: Service::Keto,
        describe: "Keto read API",
        ory_port: 4466,
    },
    Facts {
        name: "keto_write",
        flag: "--keto-write",
        env: "KETO_WRITE_REMOTE",
        service: Service::Keto,
        describe: "Keto write API",
        ory_port: 4467,
    },
];

impl Endpoint {
    pub const ALL: [Endpoint; 6] = [
        Endpoint::KratosPublic,
        Endpoint::KratosAdmin,
        Endpoint::HydraPublic,
        Endpoint::HydraAdmin,
        Endpoint::KetoRead,
        Endpoint::KetoWrite,
    ];

    const fn facts(self) -> &'static Facts {
        &FACTS[self as usize]
    }

    /// `kratos_public`: the name in config files, templates (`endpoint.kratos_public`) and
    /// reports.
    pub fn name(self) -> &'static str {
        self.facts().name
    }

    /// `--kratos-public`.
    pub fn flag(self) -> &'static str {
        self.facts().flag
    }

    /// `KRATOS_PUBLIC_URL`.
    pub fn env(self) -> &'static str {
        self.facts().env
    }

    pub const fn service(self) -> Service {
        self.facts().service
    }

    /// `Kratos public API`.
    pub fn describe(self) -> &'static str {
        self.facts().describe
    }

    /// The port Ory listens on by default (4433, 4434, 4444, 4445, 4466, 4467).
    pub fn ory_port(self) -> u16 {
        self.facts().ory_port
    }

    pub fn from_name(name: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// One value for each endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerEndpoint<T>(pub [T; 6]);

impl<T> PerEndpoint<T> {
    /// The value of each endpoint, made by `f`.
    pub fn from_fn(mut f: impl FnMut(Endpoint) -> T) -> Self {
        PerEndpoint(Endpoint::ALL.map(&mut f))
    }

    /// (endpoint, value) in `Endpoint` order.
    pub fn iter(&self) -> impl Iterator<Item = (Endpoint, &T)> {
        Endpoint::ALL.into_iter().zip(self.0.iter())
    }

    pub fn map<U>(&self, mut f: impl FnMut(Endpoint, &T) -> U) -> PerEndpoint<U> {
        PerEndpoint::from_fn(|e| f(e, &self[e]))
    }
}

/// Base URLs of the Ory APIs under test; `None` for an endpoint that is not targeted.
pub type Endpoints = PerEndpoint<Option<Url>>;

impl PerEndpoint<u16> {
    /// Ory's default ports (4433, 4434, 4444, 4445, 4466, 4467), each plus `offset`.
    pub fn ory_defaults(offset: u16) -> Self {
        PerEndpoint::from_fn(|e| e.ory_port().saturating_add(offset))
    }
}

impl PerEndpoint<String> {
    /// Shell `export` lines for the environment variables orysim (and Ory's tooling) read.
    pub fn export_lines(&self) -> String {
        self.iter()
            .map(|(e, url)| format!("export {}={url}\n", e.env()))
            .collect()
    }
}

impl<T> Index<Endpoint> for PerEndpoint<T> {
    type Output = T;

    fn index(&self, e: Endpoint) -> &T {
        &self.0[e as usize]
    }
}

impl<T> IndexMut<Endpoint> for PerEndpoint<T> {
    fn index_mut(&mut self, e: Endpoint) -> &mut T {
        &mut self.0[e as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_flags_and_variables_agree() {
        for e in Endpoint::ALL {
            assert_eq!(Endpoint::from_name(e.name()), Some(e));
            assert_eq!(e.flag(), format!("--{}", e.name().replace('_', "-")));
            assert!(e.name().starts_with(e.service().name()));
        }
        assert_eq!(Endpoint::KetoRead.env(), "KETO_READ_REMOTE");
        let ports = PerEndpoint::from_fn(Endpoint::ory_port);
        assert_eq!(ports.0, [4433, 4434, 4444, 4445, 4466, 4467]);
        assert_eq!(ports[Endpoint::HydraAdmin], 4445);
    }
}
