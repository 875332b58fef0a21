//! Renders templates against a virtual user's context. A constant template costs one
//! reference-count increment; everything else is one small string.

use crate::engine::data;
use crate::ground::PerEndpoint;
use crate::scenario::names::Slot;
use crate::scenario::template::{Generator, Part, Template, Value};
use rand::rngs::SmallRng;
use rand::Rng;
use std::fmt::Write as _;

/// What a template can read while one step runs.
pub struct Context<'a> {
    pub run: &'a [Value],
    pub vu: &'a [Value],
    pub iter: &'a [Option<Value>],
    pub vu_id: usize,
    pub iteration: u64,
    pub run_tag: &'a str,
    pub endpoints: &'a Endpoints,
}

/// Base URLs without a trailing slash, so `{{ endpoint.x }}/path` reads naturally.
pub type Endpoints = PerEndpoint<Option<Value>>;

impl Endpoints {
    pub fn from_urls(endpoints: &crate::ground::Endpoints) -> Self {
        endpoints.map(|_, u| {
            u.as_ref()
                .map(|u| Value::from(u.as_str().trim_end_matches('/')))
        })
    }
}

/// The per-user state rendering may change: its RNG and sequence counter.
pub struct Draws<'a> {
    pub rng: &'a mut SmallRng,
    pub seq: &'a mut u64,
}

pub fn render(t: &Template, cx: &Context, draws: &mut Draws) -> Value {
    if let Some(c) = t.constant() {
        return c.clone();
    }
    if let [Part::Var(slot)] = t.parts() {
        return lookup(cx, *slot);
    }
    let mut out = String::with_capacity(64);
    for part in t.parts() {
        match part {
            Part::Text(s) => out.push_str(s),
            Part::Var(slot) => out.push_str(&lookup(cx, *slot)),
            Part::Gen(g) => generate(g, cx, draws, &mut out),
        }
    }
    Value::from(out)
}

fn lookup(cx: &Context, slot: Slot) -> Value {
    // Static checks guarantee a slot is set before it is read; an empty value is the
    // defensive answer should that ever not hold.
    let v = match slot {
        Slot::Run(i) => cx.run.get(i).cloned(),
        Slot::Vu(i) => cx.vu.get(i).cloned(),
        Slot::Iter(i) => cx.iter.get(i).cloned().flatten(),
    };
    v.unwrap_or_else(|| Value::from(""))
}

fn generate(g: &Generator, cx: &Context, draws: &mut Draws, out: &mut String) {
    match g {
        Generator::FakeEmail => {
            *draws.seq += 1;
            let traits = data::identity_traits(draws.rng, cx.run_tag, cx.vu_id, *draws.seq);
            out.push_str(&traits.email);
        }
        Generator::FakeFirstName => out.push_str(&data::first_name(draws.rng)),
        Generator::FakeLastName => out.push_str(&data::last_name(draws.rng)),
        Generator::FakePassword => out.push_str(data::password(draws.rng).expose()),
        Generator::Uuid => {
            let bytes: [u8; 16] = draws.rng.gen();
            let _ = write!(
                out,
                "{}",
                uuid::Builder::from_random_bytes(bytes).into_uuid()
            );
        }
        Generator::RandomInt(lo, hi) => {
            let _ = write!(out, "{}", draws.rng.gen_range(*lo..=*hi));
        }
        Generator::Choice(options) => {
            out.push_str(&options[draws.rng.gen_range(0..options.len())]);
        }
        Generator::Seq => {
            *draws.seq += 1;
            let _ = write!(out, "{}", draws.seq);
        }
        Generator::VuId => {
            let _ = write!(out, "{}", cx.vu_id);
        }
        Generator::Iteration => {
            let _ = write!(out, "{}", cx.iteration);
        }
        Generator::RunTag => out.push_str(cx.run_tag),
        Generator::Endpoint(e) => out.push_str(cx.endpoints[*e].as_deref().unwrap_or("")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::Endpoint;
    use crate::scenario::names::Names;
    use rand::SeedableRng;

    #[test]
    fn renders_slots_generators_and_text() {
        let mut names = Names::default();
        names.iter.insert("user.email".into(), 0);
        names.vu.insert("team".into(), 0);
        let t = Template::parse(
            "{{ user.email }}/{{ team }}/{{ vu.id }}-{{ seq }}-{{ seq }}/{{ run.tag }}/{{ endpoint.keto_read }}",
            &names,
        )
        .unwrap();
        let mut endpoints = Endpoints::default();
        endpoints[Endpoint::KetoRead] = Some("http://127.0.0.1:4466".into());
        let iter = [Some(Value::from("a@example.org"))];
        let vu = [Value::from("red")];
        let cx = Context {
            run: &[],
            vu: &vu,
            iter: &iter,
            vu_id: 7,
            iteration: 0,
            run_tag: "tag",
            endpoints: &endpoints,
        };
        let mut rng = SmallRng::seed_from_u64(1);
        let mut seq = 0;
        let mut draws = Draws {
            rng: &mut rng,
            seq: &mut seq,
        };
        assert_eq!(
            &*render(&t, &cx, &mut draws),
            "a@example.org/red/7-1-2/tag/http://127.0.0.1:4466"
        );
    }

    #[test]
    fn the_same_seed_draws_the_same_values() {
        let names = Names::default();
        let t = Template::parse(
            "{{ uuid }} {{ random.int(1, 1000000) }} {{ fake.email }}",
            &names,
        )
        .unwrap();
        let endpoints = Endpoints::default();
        let draw = |seed| {
            let cx = Context {
                run: &[],
                vu: &[],
                iter: &[],
                vu_id: 1,
                iteration: 0,
                run_tag: "t",
                endpoints: &endpoints,
            };
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut seq = 0;
            render(
                &t,
                &cx,
                &mut Draws {
                    rng: &mut rng,
                    seq: &mut seq,
                },
            )
        };
        assert_eq!(draw(5), draw(5));
        assert_ne!(draw(5), draw(6));
    }
}
