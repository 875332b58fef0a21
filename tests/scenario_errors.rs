//! Every mistake in a scenario file is reported as one line, `path:line:col: what (hint)`,
//! pointing at the token it is about, and no input makes the compiler panic.
//!
//! `tests/scenarios/broken/` holds one small file per mistake; its first line,
//! `# expect: <line>:<col>: <message>`, is the exact error expected after the path.

use orysim::ground::Op;
use orysim::scenario::{self, Overrides, BUILTINS};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

const BROKEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scenarios/broken");

/// Every kind of mistake the corpus must show, by file name (without `.toml`).
const KINDS: [&str; 33] = [
    "bad-duration",
    "bad-expect-verdict",
    "bad-mix",
    "bad-think",
    "bad-url",
    "capture-unknown-output",
    "capture-used-before-set",
    "empty-flow",
    "for-each-in-flow",
    "http-bad-method",
    "include-missing-file",
    "missing-name",
    "missing-required-field",
    "mix-on-some-flows",
    "no-flows",
    "pool-without-writer",
    "push-fields-mismatch",
    "push-in-cleanup",
    "push-template-error",
    "subject-id-and-set",
    "template-after-escape",
    "toml-missing-value",
    "toml-syntax-error",
    "unclosed-placeholder",
    "unknown-field",
    "unknown-function",
    "unknown-generator",
    "unknown-parameter",
    "unknown-pool-key",
    "unknown-step-type",
    "unknown-top-level-key",
    "weight-unknown-parameter",
    "weight-zero",
];

/// The corpus files, sorted.
fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(BROKEN)
        .unwrap_or_else(|e| panic!("{BROKEN}: {e}"))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    files.sort();
    files
}

/// The `# expect: ` line of a corpus file.
fn expected(path: &Path) -> Option<String> {
    let source = std::fs::read_to_string(path).ok()?;
    let first = source.lines().next()?;
    first.strip_prefix("# expect: ").map(str::to_string)
}

#[test]
fn every_broken_file_reports_its_exact_error() {
    let mut failures = Vec::new();
    for path in corpus() {
        let path_str = path.display().to_string();
        let Some(expected) = expected(&path) else {
            failures.push(format!("{path_str}: no `# expect: ` first line"));
            continue;
        };
        let got = match catch_unwind(|| scenario::load(&path_str, &Default::default())) {
            Ok(Ok(_)) => "it loads without error".to_string(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "it panics".to_string(),
        };
        let want = format!("{path_str}:{expected}");
        if got != want {
            failures.push(format!("expected: {want}\n     got: {got}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn the_corpus_has_every_kind_of_mistake_and_nothing_untested() {
    let names: Vec<String> = corpus()
        .iter()
        .map(|p| {
            assert_eq!(
                p.extension().and_then(|e| e.to_str()),
                Some("toml"),
                "{}: the corpus holds only .toml files",
                p.display()
            );
            assert!(
                expected(p).is_some(),
                "{}: starts without `# expect: `",
                p.display()
            );
            p.file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(names, KINDS, "update KINDS when adding or removing a file");
}

/// A small deterministic generator (xorshift64*), so that a failure can be reproduced.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Characters that matter to TOML, templates, names and durations, plus non-ASCII ones
/// (columns count characters, offsets count bytes).
const NOISE: &[char] = &[
    '{', '}', '[', ']', '"', '\'', '\\', '=', '#', '.', ',', '(', ')', ':', '\n', ' ', '0', '9',
    '-', 'a', 'z', '_', 'é', '✓', '\t',
];

/// Pieces of text that interact: escapes and multi-byte characters before placeholders,
/// string delimiters, deep nesting, names that do not exist.
const SNIPPETS: &[&str] = &[
    "\\t\\t\\té",
    "\\t\\t\\té{{x}}",
    "\\u00e9",
    "\\U0001F600",
    "\\\"",
    "{{",
    "}}",
    "{{ nope }}",
    "{{x}}",
    "\"\"\"",
    "'''",
    "\\\n",
    "((((((((((((((((((((((((((((((((((((((((",
    "param.nope",
    "random.int(9, 1)",
    " = 0",
    "é✓",
];

fn mutate(source: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<&str> = source.lines().collect();
    let n = lines.len();
    match rng.below(6) {
        0 => {
            lines.remove(rng.below(n));
            lines.join("\n")
        }
        1 => {
            let i = rng.below(n);
            lines.insert(rng.below(n), lines[i]);
            lines.join("\n")
        }
        2 => {
            lines.swap(rng.below(n), rng.below(n));
            lines.join("\n")
        }
        3 => {
            let chars: Vec<char> = source.chars().collect();
            chars[..rng.below(chars.len())].iter().collect()
        }
        4 => {
            // A few characters replaced.
            let mut chars: Vec<char> = source.chars().collect();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(chars.len());
                chars[at] = NOISE[rng.below(NOISE.len())];
            }
            chars.into_iter().collect()
        }
        _ => {
            // A character or a snippet inserted next to something that matters.
            let mut chars: Vec<char> = source.chars().collect();
            let specials: Vec<usize> = chars
                .iter()
                .enumerate()
                .filter(|(_, c)| "{}\"=[]".contains(**c))
                .map(|(i, _)| i)
                .collect();
            let at = specials[rng.below(specials.len())];
            if rng.below(2) == 0 {
                chars.insert(at, NOISE[rng.below(NOISE.len())]);
            } else {
                let snippet = SNIPPETS[rng.below(SNIPPETS.len())];
                chars.splice(at..at, snippet.chars());
            }
            chars.into_iter().collect()
        }
    }
}

/// `path:line:col: message` within the file's bounds, or `path: message`; always one line.
fn check_shape(err: &str, path: &str, source: &str) -> Result<(), String> {
    if err.contains('\n') {
        return Err("more than one line".into());
    }
    let Some(rest) = err.strip_prefix(path) else {
        return Err("does not start with the path".into());
    };
    if rest.starts_with(": ") {
        return Ok(());
    }
    let mut parts = rest.splitn(4, ':');
    let (Some(""), Some(line), Some(col), Some(message)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("no `:line:col: `".into());
    };
    let (Ok(line), Ok(col)) = (line.parse::<usize>(), col.parse::<usize>()) else {
        return Err("line or column is not a number".into());
    };
    if !message.starts_with(' ') || message.trim().is_empty() {
        return Err("no message after the position".into());
    }
    let line_count = source.split('\n').count();
    let line_len = source
        .split('\n')
        .nth(line.wrapping_sub(1))
        .map(|l| l.chars().count());
    match line_len {
        Some(len) if line >= 1 && line <= line_count && col >= 1 && col <= len + 1 => Ok(()),
        _ => Err(format!("{line}:{col} is outside the file")),
    }
}

/// A few thousand random mutations of the built-ins and of the user scenario below, each loaded
/// from a file: every one must load or fail with a well-formed error, none may panic.
#[test]
fn mutated_scenarios_report_errors_and_never_panic() {
    const PER_SEED: usize = 700;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = Rng(0x5eed_0f0a_1ce5);
    let mut failures = Vec::new();
    let (mut loaded, mut errors) = (0, 0);
    let mut first_file = String::new();
    let user = std::fs::read_to_string(USER_SCENARIO).expect("the user scenario");
    let seeds = BUILTINS
        .iter()
        .copied()
        .chain([("login-token-check", user.as_str())]);
    for (name, source) in seeds {
        let path = dir.path().join(format!("mutated-{name}.toml"));
        let path_str = path.display().to_string();
        for i in 0..PER_SEED {
            let mutated = mutate(source, &mut rng);
            std::fs::write(&path, &mutated).expect("write the mutated file");
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                scenario::load(&path_str, &Overrides::new())
            }));
            let problem = match outcome {
                Err(_) => Some("panicked".to_string()),
                Ok(Ok(_)) => {
                    loaded += 1;
                    None
                }
                Ok(Err(e)) => {
                    errors += 1;
                    let text = e.to_string();
                    check_shape(&text, &path_str, &mutated)
                        .err()
                        .map(|why| format!("{why}: {text}"))
                }
            };
            if let Some(problem) = problem {
                if failures.is_empty() {
                    first_file = mutated;
                }
                failures.push(format!("{name} mutation {i}: {problem}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} mutations went wrong:\n{}\n--- the first mutated file ---\n{first_file}",
        failures.len(),
        (BUILTINS.len() + 1) * PER_SEED,
        failures.join("\n"),
    );
    // The mutations must exercise both outcomes, or the test proves little.
    assert!(
        loaded > 100 && errors > 1000,
        "{loaded} loaded, {errors} errors"
    );
}

const USER_SCENARIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/scenarios/login-token-check.toml"
);

#[test]
fn the_login_token_check_scenario_chains_kratos_hydra_and_keto() {
    let s = scenario::load(USER_SCENARIO, &Overrides::new()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.name, "login-token-check");
    let group = &s.groups[0];
    let flows: Vec<(&str, f64)> = group
        .flows
        .iter()
        .map(|f| (f.name.as_str(), f.weight))
        .collect();
    assert_eq!(flows, [("register", 1.0), ("login-token-check", 9.0)]);

    let setup: Vec<Op> = group.setup.iter().map(|s| s.op).collect();
    let teardown: Vec<Op> = group.teardown.iter().map(|s| s.op).collect();
    assert_eq!(setup, [Op::HydraCreateClient]);
    assert_eq!(teardown, [Op::HydraDeleteClient]);

    let register = &group.flows[0];
    assert_eq!(
        register.steps.iter().map(|s| s.op).collect::<Vec<_>>(),
        [Op::KratosRegister]
    );
    let identities = group
        .pools
        .iter()
        .position(|p| p.name == "identities")
        .expect("identities pool");
    assert_eq!(register.steps[0].pushes[0].0, identities);

    let main = &group.flows[1];
    let ops: Vec<Op> = main.steps.iter().map(|s| s.op).collect();
    assert_eq!(
        ops,
        [
            Op::KratosLogin,
            Op::HydraToken,
            Op::KetoWrite,
            Op::KetoCheck
        ]
    );
    assert_eq!(main.picks.len(), 1);
    assert_eq!(main.picks[0].pool, identities);

    // The identity the login captures is the subject Keto writes and checks.
    let (output, slot) = &main.steps[0].captures[0];
    assert_eq!(output.name(), "identity_id");
    let captured = format!("Iter({slot})");
    for step in &main.steps[2..] {
        let subject = match &step.action {
            scenario::model::Action::KetoWrite(t) => &t.subject,
            scenario::model::Action::KetoCheck { tuple, .. } => &tuple.subject,
            other => panic!("not a Keto step: {other:?}"),
        };
        let scenario::model::SubjectT::Id(t) = subject else {
            panic!("subject_set instead of subject_id");
        };
        let slots: Vec<String> = t.slots().map(|s| format!("{s:?}")).collect();
        assert_eq!(slots, std::slice::from_ref(&captured), "{:?}", step.op);
    }
    // The token request uses the client setup created (run-wide values).
    let scenario::model::Action::HydraToken { client, .. } = &main.steps[1].action else {
        panic!("not hydra.token");
    };
    let client_slots: Vec<String> = client
        .client_id
        .slots()
        .chain(client.client_secret.slots())
        .map(|s| format!("{s:?}"))
        .collect();
    assert_eq!(client_slots, ["Run(0)", "Run(1)"]);
    assert_eq!(
        main.steps[3].expect,
        scenario::model::Expect::Verdict(orysim::ground::Verdict::Allowed)
    );
}
