//! Kratos: registrations are the writes; logins, whoami checks, identity lookups and logouts are
//! the reads. Logouts only touch sessions that one virtual user holds privately, so no other
//! user can find its "active" session logged out under it and report a false failure.

use super::{Workload, WorkloadOptions};
use crate::engine::data;
use crate::engine::mix::ReadWriteMix;
use crate::engine::pool::Pool;
use crate::engine::vu::Vu;
use crate::model::{Kind, Op, Verdict};
use crate::ory::kratos::KratosClient;
use crate::secret::Secret;
use rand::Rng;
use std::sync::Arc;

/// How the reads split (cumulative thresholds over a uniform draw).
const LOGOUT_BELOW: f64 = 0.10;
const LOGIN_BELOW: f64 = 0.25;
const LOOKUP_BELOW: f64 = 0.35;

struct Identity {
    email: String,
    password: Secret,
}

pub struct KratosWorkload {
    client: KratosClient,
    opts: WorkloadOptions,
    mix: ReadWriteMix,
    identities: Pool<Arc<Identity>>,
    sessions: Pool<Secret>,
    logged_out: Pool<Secret>,
}

#[derive(Default)]
pub struct KratosLocal {
    /// A session from this user's own login, kept back to be logged out later.
    own_session: Option<Secret>,
}

impl KratosWorkload {
    pub fn new(client: KratosClient, opts: WorkloadOptions) -> Self {
        KratosWorkload {
            client,
            mix: ReadWriteMix::new(opts.read_ratio),
            identities: Pool::new(opts.pool_capacity),
            sessions: Pool::new(opts.pool_capacity),
            logged_out: Pool::new(opts.pool_capacity),
            opts,
        }
    }

    async fn register(&self, vu: &mut Vu) {
        let seq = vu.next_seq();
        let traits = data::identity_traits(&mut vu.rng, &self.opts.run_tag, vu.id, seq);
        let password = data::password(&mut vu.rng);
        let registered = vu
            .call(
                Op::KratosRegister,
                Some(Verdict::Ok),
                self.client.register(&traits, &password),
            )
            .await;
        if let Some(registered) = registered {
            if let Some(token) = registered.session_token {
                self.sessions.push(token);
            }
            self.identities.push(Arc::new(Identity {
                email: traits.email,
                password,
            }));
        }
    }

    /// Logs in as a random registered identity; the session goes to the shared pool, or is
    /// kept by this user when `keep` is set.
    async fn login(&self, vu: &mut Vu, local: &mut KratosLocal, keep: bool) {
        let Some(identity) = self.identities.pick(&mut vu.rng) else {
            return;
        };
        let logged_in = vu
            .call(
                Op::KratosLogin,
                Some(Verdict::Valid),
                self.client.login(&identity.email, &identity.password),
            )
            .await;
        if let Some(logged_in) = logged_in {
            if keep {
                local.own_session = Some(logged_in.session_token);
            } else {
                self.sessions.push(logged_in.session_token);
            }
        }
    }

    async fn logout(&self, vu: &mut Vu, local: &mut KratosLocal) {
        match local.own_session.take() {
            Some(token) => {
                let done = vu
                    .check(
                        Op::KratosLogout,
                        Some(Verdict::Ok),
                        self.client.logout(&token),
                    )
                    .await;
                if done {
                    self.logged_out.push(token);
                }
            }
            // Nothing of our own to log out yet: this read is the login that makes one.
            None => self.login(vu, local, true).await,
        }
    }

    async fn lookup(&self, vu: &mut Vu) {
        if let Some(identity) = self.identities.pick(&mut vu.rng) {
            vu.call(
                Op::KratosLookupIdentity,
                Some(Verdict::Ok),
                self.client.lookup_identity(&identity.email),
            )
            .await;
        }
    }

    async fn whoami(&self, vu: &mut Vu, local: &mut KratosLocal) {
        let negative = vu.rng.gen_bool(self.opts.negative_share);
        let (token, expect) = match negative.then(|| self.logged_out.pick(&mut vu.rng)) {
            Some(Some(token)) => (token, Verdict::Inactive),
            _ => match self.sessions.pick(&mut vu.rng) {
                Some(token) => (token, Verdict::Active),
                None => return self.login(vu, local, false).await,
            },
        };
        vu.call(Op::KratosWhoami, Some(expect), self.client.whoami(&token))
            .await;
    }
}

impl Workload for KratosWorkload {
    type Local = KratosLocal;

    async fn step(&self, vu: &mut Vu, local: &mut KratosLocal) {
        match self.mix.next(!self.identities.is_empty()) {
            Kind::Write => self.register(vu).await,
            Kind::Read => {
                let draw: f64 = vu.rng.gen();
                if draw < LOGOUT_BELOW {
                    self.logout(vu, local).await
                } else if draw < LOGIN_BELOW {
                    self.login(vu, local, false).await
                } else if draw < LOOKUP_BELOW {
                    self.lookup(vu).await
                } else {
                    self.whoami(vu, local).await
                }
            }
        }
    }
}
