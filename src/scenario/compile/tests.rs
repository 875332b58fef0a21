//! The compiler's errors as users read them.

use super::spans::source_offset;
use super::*;
use crate::ground::parse::line_col;

fn error(source: &str) -> String {
    match compile("t.toml", source, None, &Overrides::new()) {
        Ok(_) => "it compiles".into(),
        Err(e) => e.to_string(),
    }
}

const FLOW: &str = "[[flow]]\n[[flow.step]]\nop = \"kratos.register\"\n";

#[test]
fn template_errors_point_into_the_source_past_escapes() {
    // Before: the offset into the decoded text was used as an offset into the source, so
    // escapes moved the column, and a multi-byte character could make it panic.
    let step = |value: &str| {
        format!(
            "name = \"x\"\n[[flow]]\n[[flow.step]]\nop = \"kratos.register\"\nemail = {value}\n"
        )
    };
    let e = error(&step(r#""\t\t\té{{x}}""#));
    assert_eq!(
        e,
        "t.toml:5:19: `x` is used before it is set (set it under `let`, `[vu]`, with \
         `pick`, or capture it in an earlier step: capture = [\"x\"])"
    );
    assert!(error(&step(r#""\"q\" \u00e9-{{ nope }}""#)).starts_with("t.toml:5:26: `nope`"));
    assert!(error(&step(r#""\U0001F600{{ nope }}""#)).starts_with("t.toml:5:23: `nope`"));
    // Literal strings have no escapes; multi-line strings drop their first newline and
    // line-ending backslashes.
    assert!(error(&step(r#"'\t{{ nope }}'"#)).starts_with("t.toml:5:15: `nope`"));
    assert!(error(&step("\"\"\"\n  a-{{ nope }}\"\"\"")).starts_with("t.toml:6:8: `nope`"));
    assert!(error(&step("\"\"\"a \\\n    b{{ nope }}\"\"\"")).starts_with("t.toml:6:9: `nope`"));
}

#[test]
fn source_offsets_stay_on_character_boundaries() {
    let source = "x = \"é\\t\"";
    for offset in 0..20 {
        let at = source_offset(source, 4, offset);
        assert!(
            source.is_char_boundary(at) && at <= source.len(),
            "{offset} -> {at}"
        );
    }
    // Truncated escapes end the walk instead of slicing out of bounds.
    for source in ["\"\\u12", "\"\\", "\"\"\"\\  ", "'"] {
        assert!(source_offset(source, 0, 10) <= source.len());
    }
    assert_eq!(line_col("aé\nb", 2), (1, 2));
}

#[test]
fn toml_errors_read_as_what_and_hint() {
    assert_eq!(
        error("name = \"x\"\n[[flow]\n"),
        "t.toml:2:7: invalid table header (expected `.`, `]]`)"
    );
    let hint = "(a value is a \"string\", a number, true or false, [a list] or { a = table })";
    assert_eq!(
        error("name ="),
        format!("t.toml:1:7: `=` without a value {hint}")
    );
    assert_eq!(
        error("name = \"x\"\nweight =  # none\n"),
        format!("t.toml:2:11: `=` without a value {hint}")
    );
    assert_eq!(
        error(&format!("name = \"x\"\n{FLOW}nmae = 1\n")),
        "t.toml:5:1: unknown field `nmae` for kratos.register (did you mean `name`? its \
         fields: email, first_name, last_name, password, traits; every step: name, expect, think, \
         capture, push, for_each)"
    );
    assert_eq!(
        error("name = \"x\"\n[pools]\np = { size = 1 }\n"),
        "t.toml:3:7: unknown key `size` (keys here: capacity, ledger, max_age)"
    );
    assert_eq!(
        error("name = 3\n"),
        "t.toml:1:8: invalid type: integer `3` (expected a string)"
    );
    assert_eq!(
        error("name = \"x\"\nname = \"y\"\n"),
        "t.toml:2:1: duplicate key `name` in document root (a key can appear only once in \
         a table)"
    );
    assert_eq!(
        error("description = \"x\"\n"),
        "t.toml:1:1: the scenario has no `name` (start the file with name = \"my-scenario\")"
    );
}

#[test]
fn list_and_table_entries_are_pointed_at_one_by_one() {
    let source = "name = \"x\"\n[[flow]]\n[[flow.step]]\nop = \"kratos.register\"\n";
    let e = error(&format!(
        "{source}capture = {{ id = \"identity_id\", t = \"token\" }}\n"
    ));
    assert_eq!(
        e,
        "t.toml:5:37: kratos.register has no output `token` (it can capture: identity_id, \
         session_token, email, identifier, password)"
    );
    let e = error(&format!("{source}capture = {{ \"a b\" = \"email\" }}\n"));
    assert!(
        e.starts_with("t.toml:5:13: `a b` is not a valid name"),
        "{e}"
    );
    let e = error(&format!("{source}capture = [\n  \"email\",\n  3,\n]\n"));
    assert!(
        e.starts_with("t.toml:7:3: a captured output is a string"),
        "{e}"
    );
    let e = error(&format!("{source}capture = [\"sesion_token\"]\n"));
    assert!(e.ends_with("(did you mean `session_token`?)"), "{e}");
    let e = error(&format!(
        "{source}capture = [\"email\"]\npush = {{ p = {{ e = \"{{{{ email }}}}\", n = 1 }} }}\n"
    ));
    assert!(
        e.starts_with("t.toml:6:39: push to `p`: field `n` must be a string"),
        "{e}"
    );
}

#[test]
fn http_methods_are_checked_and_headers_pointed_at() {
    let step = |extra: &str| {
        format!(
            "name = \"x\"\n[[flow]]\n[[flow.step]]\nop = \"http\"\nservice = \"keto\"\n\
             url = \"{{{{ endpoint.keto_read }}}}/health/ready\"\n{extra}\n"
        )
    };
    assert_eq!(error(&step("method = \"post\"")), "it compiles");
    assert_eq!(
        error(&step("method = \"GTE\"")),
        "t.toml:7:10: http: `GTE` is not an HTTP method (did you mean `GET`?)"
    );
    assert_eq!(
        error(&step("method = \"BREW\"")),
        "t.toml:7:10: http: `BREW` is not an HTTP method (one of: GET, HEAD, POST, PUT, \
         PATCH, DELETE, OPTIONS)"
    );
    let e = error(&step(
        "headers = { accept = \"x\", \"bad header\" = \"y\" }",
    ));
    assert!(
        e.starts_with("t.toml:7:27: http: `bad header` is not a header name"),
        "{e}"
    );
    for framing in ["content-length", "Transfer-Encoding"] {
        let e = error(&step(&format!("headers = {{ {framing} = \"0\" }}")));
        assert_eq!(
            e,
            format!(
                "t.toml:7:13: http: header `{framing}` is set by orysim from the body \
                 (remove it; the body is sent with its own Content-Length)"
            )
        );
    }
    let e = error(&step("headers = { x-id = \"{{ nope }}\" }"));
    assert!(
        e.starts_with("t.toml:7:24: `nope` is used before it is set"),
        "{e}"
    );
}

#[test]
fn misplaced_fields_are_pointed_at_by_their_key() {
    let e = error(
        "name = \"x\"\n[[flow]]\n[[flow.step]]\nop = \"keto.check\"\nnamespace = \"n\"\n\
         object = \"o\"\nrelation = \"r\"\nsubject_set = \"a:b#c\"\nsubject_id = \"u\"\n",
    );
    assert!(e.starts_with("t.toml:8:1: keto.check: give `subject_id` or `subject_set`"));
    let e = error(&format!(
        "name = \"x\"\n[[setup.step]]\nop = \"kratos.register\"\nfor_each = \"p\"\n{FLOW}"
    ));
    assert_eq!(
        e,
        "t.toml:4:1: `for_each` is for teardown and cleanup steps, not setup (setup runs \
         each step once)"
    );
}

#[test]
fn a_missing_include_says_so_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let e = compile(
        "t.toml",
        "name = \"x\"\ninclude = [\"gone.toml\"]\n",
        Some(dir.path()),
        &Overrides::new(),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "t.toml:2:12: cannot include `gone.toml`: no such file (built-ins: kratos, hydra, \
         keto, all, seed-parity, oauth2, keto-batch; other files are found relative to this one)"
    );
}

#[test]
fn every_operation_compiles_from_its_table_fields() {
    use crate::ground::ops::FieldValue;
    for &op in crate::ground::Op::ALL.iter().filter(|op| !op.is_http()) {
        let mut step = format!("op = \"{}\"\n", op.name());
        let mut continues = false;
        for field in op.spec().fields {
            step.push_str(&match field.value {
                FieldValue::Count => format!("{} = 3\n", field.name),
                FieldValue::AuthMethod => format!("{} = \"client_secret_post\"\n", field.name),
                FieldValue::Subject { .. } => "subject_id = \"user:u\"\n".to_string(),
                FieldValue::Browser { starts } => {
                    continues = !starts;
                    String::new()
                }
                _ if field.name == "redirect_uri" => "redirect_uri = \"http://h/cb\"\n".into(),
                // Optional, and it replaces the generated email and names: left out here.
                FieldValue::Traits => String::new(),
                FieldValue::Tuples => format!(
                    "{} = [{{ namespace = \"n\", object = \"o\", relation = \"r\", subject_id = \"s\" }}]\n",
                    field.name
                ),
                _ => format!("{} = \"x\"\n", field.name),
            });
        }
        // A leg that continues an authorization needs the step that starts it.
        let before = if continues {
            "[[flow.step]]\nop = \"hydra.authorize\"\nclient_id = \"c\"\nredirect_uri = \"http://h/cb\"\n"
        } else {
            ""
        };
        let source = format!("name = \"x\"\n[[flow]]\n{before}[[flow.step]]\n{step}");
        let scenario = compile("t.toml", &source, None, &Overrides::new())
            .unwrap_or_else(|e| panic!("{}: {e}", op.name()));
        let compiled = scenario.groups[0].flows[0].steps.last().unwrap();
        assert_eq!(compiled.op, op);
        let given = op
            .spec()
            .fields
            .iter()
            .map(|f| match f.value {
                FieldValue::Count | FieldValue::Traits | FieldValue::Browser { starts: true } => 0,
                FieldValue::Tuples => 4,
                _ => 1,
            })
            .sum::<usize>();
        assert_eq!(compiled.action.templates().len(), given, "{}", op.name());
    }
}

#[test]
fn authorization_legs_need_their_start_and_a_usable_redirect_uri() {
    let leg_first =
        "name = \"x\"\n[[flow]]\n[[flow.step]]\nop = \"hydra.accept_login\"\nsubject = \"u\"\n";
    let e = compile("t.toml", leg_first, None, &Overrides::new())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("t.toml:3:1: hydra.accept_login continues an authorization, but no hydra.authorize step comes before it"),
        "{e}"
    );
    for (uri, problem) in [
        ("/callback", "is not an absolute URL"),
        (
            "http://127.0.0.1/cb#frag",
            "has a fragment (#), which Hydra refuses",
        ),
        ("ftp://127.0.0.1/cb", "is not http or https"),
    ] {
        let source = format!(
            "name = \"x\"\n[[flow]]\n[[flow.step]]\nop = \"hydra.authorize\"\nclient_id = \"c\"\nredirect_uri = \"{uri}\"\n"
        );
        let e = compile("t.toml", &source, None, &Overrides::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!(
                "t.toml:3:1: hydra.authorize: redirect_uri `{uri}` {problem}"
            )),
            "{e}"
        );
    }
    // The browser is the compiler's: a file cannot capture it.
    let source = "name = \"x\"\n[[flow]]\n[[flow.step]]\nop = \"hydra.authorize\"\nclient_id = \"c\"\nredirect_uri = \"http://h/cb\"\ncapture = [\"browser\"]\n";
    let e = compile("t.toml", source, None, &Overrides::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("hydra.authorize has no output `browser`"), "{e}");
}

#[test]
fn an_http_step_is_backed_off_by_the_endpoint_its_url_starts_with() {
    let step = |url: &str| {
        let source = format!(
            "name = \"x\"\n[[flow]]\n[[flow.step]]\nop = \"http\"\nservice = \"keto\"\n\
             method = \"PUT\"\nurl = \"{url}\"\n"
        );
        let scenario = compile("t.toml", &source, None, &Overrides::new()).unwrap();
        let step = &scenario.groups[0].flows[0].steps[0];
        (step.op, step.endpoint())
    };
    use crate::ground::{Endpoint, Op};
    assert_eq!(
        step("{{ endpoint.keto_read }}/relation-tuples"),
        (Op::KetoHttpWrite, Endpoint::KetoRead)
    );
    // A URL that names no endpoint: the operation's.
    assert_eq!(
        step("http://127.0.0.1:4467/admin/relation-tuples"),
        (Op::KetoHttpWrite, Endpoint::KetoWrite)
    );
}
