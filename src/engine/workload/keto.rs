//! Keto: relation-tuple writes are the writes; permission checks are the reads, mostly of
//! written tuples (expected allowed) and a share of tuples never written (expected denied).

use super::{Workload, WorkloadOptions};
use crate::engine::mix::ReadWriteMix;
use crate::engine::pool::Pool;
use crate::engine::vu::Vu;
use crate::model::{Kind, Op, Verdict};
use crate::ory::keto::{KetoClient, RelationTuple, Subject};
use rand::Rng;
use std::sync::Arc;

const RELATION: &str = "viewer";

pub struct KetoWorkload {
    client: KetoClient,
    namespace: String,
    opts: WorkloadOptions,
    mix: ReadWriteMix,
    tuples: Pool<Arc<RelationTuple>>,
}

impl KetoWorkload {
    pub fn new(client: KetoClient, namespace: String, opts: WorkloadOptions) -> Self {
        KetoWorkload {
            client,
            namespace,
            mix: ReadWriteMix::new(opts.read_ratio),
            tuples: Pool::new(opts.pool_capacity),
            opts,
        }
    }

    fn tuple(&self, object: String, subject: String) -> RelationTuple {
        RelationTuple {
            namespace: self.namespace.clone(),
            object,
            relation: RELATION.to_string(),
            subject: Subject::Id(subject),
        }
    }

    async fn write(&self, vu: &mut Vu) {
        let seq = vu.next_seq();
        let tag = &self.opts.run_tag;
        let user = vu.rng.gen_range(0..1000u32);
        let tuple = self.tuple(
            format!("{tag}-doc-{}-{seq}", vu.id),
            format!("user:{tag}-{user}"),
        );
        let written = vu
            .check(Op::KetoWrite, Some(Verdict::Ok), self.client.write(&tuple))
            .await;
        if written {
            self.tuples.push(Arc::new(tuple));
        }
    }

    async fn check(&self, vu: &mut Vu) {
        if vu.rng.gen_bool(self.opts.negative_share) {
            // An object no run ever writes: the check must be denied.
            let seq = vu.next_seq();
            let tag = &self.opts.run_tag;
            let tuple = self.tuple(
                format!("{tag}-unwritten-{}-{seq}", vu.id),
                format!("user:{tag}-nobody"),
            );
            vu.call(
                Op::KetoCheck,
                Some(Verdict::Denied),
                self.client.check(&tuple, None),
            )
            .await;
        } else if let Some(tuple) = self.tuples.pick(&mut vu.rng) {
            vu.call(
                Op::KetoCheck,
                Some(Verdict::Allowed),
                self.client.check(&tuple, None),
            )
            .await;
        }
    }
}

impl Workload for KetoWorkload {
    type Local = ();

    async fn step(&self, vu: &mut Vu, _local: &mut ()) {
        match self.mix.next(!self.tuples.is_empty()) {
            Kind::Write => self.write(vu).await,
            Kind::Read => self.check(vu).await,
        }
    }
}
