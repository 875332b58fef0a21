//! Before any load, the steps whose success depends on the target's own configuration are
//! tried once: a `kratos.register` without `traits` must be able to fill the target's
//! registration form, and a `keto.batch_check` must fit the target's batch limit. Either
//! failing is one line naming the step, and the run does not start.

use super::interp::Clients;
use super::traits_fill::{fill, Known};
use crate::ory::keto::{batch_limit_of, RelationTuple, Subject};
use crate::scenario::model::{Action, Scenario, Step, TraitsT};
use rand::SeedableRng;

/// The problems found, one line each; empty when the scenario fits its target.
pub async fn check(scenario: &Scenario, clients: &Clients) -> Vec<String> {
    let steps: Vec<&Step> = scenario
        .groups
        .iter()
        .flat_map(|g| {
            g.setup
                .iter()
                .chain(g.flows.iter().flat_map(|f| &f.steps))
                .chain(&g.teardown)
                .chain(&g.cleanup)
        })
        .collect();
    let mut problems = Vec::new();
    let at = |step: &Step| format!("{} line {}", scenario.origin, step.line);

    let fills_form = |s: &&&Step| matches!(s.action, Action::KratosRegister { traits: None, .. });
    if let (Some(step), Some(kratos)) = (steps.iter().find(fills_form), &clients.kratos) {
        // A failed flow creation shows in the run itself; only a form orysim cannot fill stops it.
        if let Ok((_, inputs)) = kratos.start_registration().await {
            let known = Known {
                email: "preflight@example.org",
                first: "Pre",
                last: "Flight",
            };
            let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
            if let Err(e) = fill(&inputs, &known, "preflight", &mut rng) {
                problems.push(format!("preflight: {}: kratos.register {e}", at(step)));
            }
        }
    }

    // Traits the step gives must be ones the form has: Kratos refuses any other.
    let given = steps.iter().filter_map(|s| match &s.action {
        Action::KratosRegister {
            traits: Some(t), ..
        } => Some((s, t)),
        _ => None,
    });
    let mut form: Option<Vec<String>> = None;
    for (step, traits) in given {
        let Some(kratos) = &clients.kratos else { break };
        if form.is_none() {
            match kratos.start_registration().await {
                Ok((_, inputs)) => form = Some(inputs.into_iter().map(|i| i.path).collect()),
                Err(_) => break,
            }
        }
        let known = form.as_deref().unwrap_or_default();
        let mut paths = Vec::new();
        leaf_paths(traits, "", &mut paths);
        let fits = |p: &String| {
            known.iter().any(|k| {
                k == p || k.starts_with(&format!("{p}.")) || p.starts_with(&format!("{k}."))
            })
        };
        if let Some(unknown) = paths.iter().find(|p| !fits(p)) {
            problems.push(format!(
                "preflight: {}: kratos.register: trait `{unknown}` is not in Kratos's \
                 registration form (its traits: {})",
                at(step),
                known.join(", ")
            ));
        }
    }

    let batch = steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::KetoBatchCheck { tuples, .. } => Some((s, tuples.len())),
            _ => None,
        })
        .max_by_key(|(_, n)| *n);
    if let (Some((step, n)), Some(keto)) = (batch, &clients.keto) {
        // Tuples of a namespace no one has: Keto answers each with an error, or refuses the
        // batch whole when it is over the limit.
        let probe: Vec<RelationTuple> = (0..n)
            .map(|i| RelationTuple {
                namespace: "orysim-preflight".into(),
                object: format!("o{i}"),
                relation: "r".into(),
                subject: Subject::Id("s".into()),
            })
            .collect();
        if let Ok((status, body)) = keto.batch_check_raw(&probe, None).await {
            if let Some(limit) = batch_limit_of(status, &body) {
                problems.push(format!(
                    "preflight: {}: keto.batch_check sends {n} tuples but Keto checks at most \
                     {limit} per batch (its limit.max_batch_check_size); split the tuples over \
                     several steps",
                    at(step)
                ));
            }
        }
    }
    problems
}

/// The dotted paths of a `traits` table's values (objects are walked, anything else is a leaf).
fn leaf_paths(t: &TraitsT, prefix: &str, out: &mut Vec<String>) {
    match t {
        TraitsT::Object(fields) => {
            for (k, v) in fields {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_paths(v, &path, out);
            }
        }
        _ if !prefix.is_empty() => out.push(prefix.to_string()),
        _ => {}
    }
}
