use super::*;
use crate::ground::{Kind, Service};

#[test]
fn every_builtin_compiles_and_uses_the_services_it_is_named_after() {
    for (name, _) in BUILTINS {
        let s = load(name, &Overrides::new()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.name, name);
        let expected: Vec<Service> = match name {
            "kratos" => vec![Service::Kratos],
            "hydra" | "oauth2" => vec![Service::Hydra],
            "keto" | "keto-batch" => vec![Service::Keto],
            _ => Service::ALL.to_vec(),
        };
        assert_eq!(s.services(), expected, "{name}");
    }
}

#[test]
fn all_runs_the_three_service_scenarios_side_by_side() {
    let all = load("all", &Overrides::new()).unwrap();
    let names: Vec<&str> = all.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["kratos", "hydra", "keto"]);
    assert!(all.groups.iter().all(|g| g.uses_mix));
}

#[test]
fn parameters_shape_weights_and_unknown_overrides_are_refused() {
    let weights = |o: &Overrides| -> Vec<(String, f64)> {
        load("keto", o).unwrap().groups[0]
            .flows
            .iter()
            .map(|f| (f.name.clone(), f.weight))
            .collect()
    };
    let default = weights(&Overrides::new());
    assert!(
        default.contains(&("check-unwritten".to_string(), 9.0)),
        "{default:?}"
    );
    let o = Overrides::from([("negative_share".to_string(), "0.5".to_string())]);
    assert!(weights(&o).contains(&("check-unwritten".to_string(), 45.0)));
    let bad = Overrides::from([("nope".to_string(), "1".to_string())]);
    let e = load("keto", &bad).unwrap_err().to_string();
    assert!(
        e.contains("--param nope") && e.contains("negative_share"),
        "{e}"
    );
}

#[test]
fn flows_count_their_reads_and_writes() {
    let kratos = load("kratos", &Overrides::new()).unwrap();
    let lifecycle = kratos.groups[0]
        .flows
        .iter()
        .find(|f| f.name == "session-lifecycle")
        .unwrap();
    assert_eq!((lifecycle.reads, lifecycle.writes), (3, 0));
    assert_eq!(lifecycle.mix, Some(Kind::Read));
}

#[test]
fn unknown_names_are_reported_with_file_positions() {
    let e = load("no-such-builtin", &Overrides::new()).unwrap_err();
    assert!(e.to_string().contains("built-ins: kratos"), "{e}");
}
