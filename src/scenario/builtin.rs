//! The built-in scenarios: the files under `scenarios/`, embedded in the binary so that
//! `orysim run` works from anywhere and `orysim scenarios show` prints exactly what runs.

/// (name, file contents), in the order `scenarios list` shows them.
pub const BUILTINS: [(&str, &str); 7] = [
    ("kratos", include_str!("../../scenarios/kratos.toml")),
    ("hydra", include_str!("../../scenarios/hydra.toml")),
    ("keto", include_str!("../../scenarios/keto.toml")),
    ("all", include_str!("../../scenarios/all.toml")),
    (
        "seed-parity",
        include_str!("../../scenarios/seed-parity.toml"),
    ),
    ("oauth2", include_str!("../../scenarios/oauth2.toml")),
    (
        "keto-batch",
        include_str!("../../scenarios/keto-batch.toml"),
    ),
];

pub fn builtin_source(name: &str) -> Option<&'static str> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}
