//! Hydra: client-credentials token grants are the writes; introspections and revocations are
//! the reads. A share of introspections targets revoked or never-issued tokens, which must come
//! back inactive. Revocations only touch tokens one virtual user kept privately.

use super::{Workload, WorkloadOptions};
use crate::engine::mix::ReadWriteMix;
use crate::engine::pool::Pool;
use crate::engine::vu::Vu;
use crate::model::{Kind, Op, Verdict};
use crate::ory::hydra::{HydraClient, OAuthClient};
use crate::secret::Secret;
use rand::distributions::Alphanumeric;
use rand::Rng;
use std::time::{Duration, Instant};

/// Share of reads that revoke a privately kept token (when the user has one).
const REVOKE_SHARE: f64 = 0.05;
/// Hydra's default access-token lifespan is one hour; tokens older than this are no longer
/// expected to be active (a deployment may use a shorter lifespan), so they are not judged.
const TRUST_ACTIVE_FOR: Duration = Duration::from_secs(50 * 60);

#[derive(Clone)]
struct IssuedToken {
    token: Secret,
    issued: Instant,
}

pub struct HydraWorkload {
    client: HydraClient,
    oauth_client: OAuthClient,
    opts: WorkloadOptions,
    mix: ReadWriteMix,
    tokens: Pool<IssuedToken>,
    revoked: Pool<Secret>,
}

#[derive(Default)]
pub struct HydraLocal {
    /// A token this user obtained and keeps back to revoke later.
    own_token: Option<Secret>,
}

impl HydraWorkload {
    pub fn new(client: HydraClient, oauth_client: OAuthClient, opts: WorkloadOptions) -> Self {
        HydraWorkload {
            client,
            oauth_client,
            mix: ReadWriteMix::new(opts.read_ratio),
            tokens: Pool::new(opts.pool_capacity),
            revoked: Pool::new(opts.pool_capacity),
            opts,
        }
    }

    async fn grant(&self, vu: &mut Vu, local: &mut HydraLocal) {
        let token = vu
            .call(
                Op::HydraToken,
                Some(Verdict::Ok),
                self.client.token(&self.oauth_client, None),
            )
            .await;
        if let Some(token) = token {
            if local.own_token.is_none() && vu.rng.gen_bool(0.5) {
                local.own_token = Some(token);
            } else {
                self.tokens.push(IssuedToken {
                    token,
                    issued: Instant::now(),
                });
            }
        }
    }

    async fn revoke(&self, vu: &mut Vu, token: Secret) {
        let done = vu
            .check(
                Op::HydraRevoke,
                Some(Verdict::Ok),
                self.client.revoke(&self.oauth_client, &token),
            )
            .await;
        if done {
            self.revoked.push(token);
        }
    }

    async fn introspect(&self, vu: &mut Vu) {
        let (token, expect) = if vu.rng.gen_bool(self.opts.negative_share) {
            let revoked = if vu.rng.gen_bool(0.5) {
                self.revoked.pick(&mut vu.rng)
            } else {
                None
            };
            (
                revoked.unwrap_or_else(|| unknown_token(vu)),
                Some(Verdict::Inactive),
            )
        } else {
            match self.tokens.pick(&mut vu.rng) {
                Some(t) => {
                    let trusted = t.issued.elapsed() < TRUST_ACTIVE_FOR;
                    (t.token, trusted.then_some(Verdict::Active))
                }
                None => (unknown_token(vu), Some(Verdict::Inactive)),
            }
        };
        vu.call(Op::HydraIntrospect, expect, self.client.introspect(&token))
            .await;
    }
}

/// A token Hydra never issued, shaped like an opaque Hydra token.
fn unknown_token(vu: &mut Vu) -> Secret {
    let mut part = |n: usize| -> String {
        (0..n)
            .map(|_| vu.rng.sample(Alphanumeric) as char)
            .collect()
    };
    Secret::new(format!("ory_at_{}.{}", part(43), part(43)))
}

impl Workload for HydraWorkload {
    type Local = HydraLocal;

    async fn step(&self, vu: &mut Vu, local: &mut HydraLocal) {
        match self.mix.next(!self.tokens.is_empty()) {
            Kind::Write => self.grant(vu, local).await,
            Kind::Read => match local.own_token.take() {
                Some(token) if vu.rng.gen_bool(REVOKE_SHARE) => self.revoke(vu, token).await,
                own => {
                    local.own_token = own;
                    self.introspect(vu).await
                }
            },
        }
    }
}
