//! Identity traits for a registration form orysim has never seen: one value per `traits.*`
//! input of the flow, by the input's type and `pattern`, from the virtual user's own RNG.
//!
//! Required inputs are filled, and so are the quickstart schema's email and names (a schema
//! may leave those optional). Every generated string carries a token unique to the run, user and
//! sequence number, so whichever trait the schema makes the identifier is unique. Bounds the
//! form does not show (`minLength`, `maximum`, ...) are met by staying modest: generated text
//! is 10 to 40 characters, numbers are 18 to 99.

use crate::ory::kratos::FormInput;
use rand::rngs::SmallRng;
use rand::Rng;
use serde_json::{Map, Value};
use std::fmt;

/// The step's values for the quickstart schema's traits.
pub struct Known<'a> {
    pub email: &'a str,
    pub first: &'a str,
    pub last: &'a str,
}

/// A trait orysim cannot fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillError {
    pub path: String,
    pub why: String,
}

impl fmt::Display for FillError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot fill trait `traits.{}`: {}; give the step a `traits` table",
            self.path, self.why
        )
    }
}

/// Area codes libphonenumber knows as valid US ones, for `tel` inputs.
const AREA_CODES: [u16; 12] = [201, 206, 212, 305, 312, 415, 503, 512, 617, 702, 808, 917];

/// The traits object for `inputs`; `unique` is lower-case letters and digits.
pub fn fill(
    inputs: &[FormInput],
    known: &Known,
    unique: &str,
    rng: &mut SmallRng,
) -> Result<Value, FillError> {
    let mut traits = Map::new();
    let mut emails = 0;
    for input in inputs {
        let known_value = match input.path.as_str() {
            "name.first" | "first_name" => Some(known.first),
            "name.last" | "last_name" => Some(known.last),
            _ => None,
        };
        let wanted = input.required || input.kind == "email" || known_value.is_some();
        if !wanted {
            continue;
        }
        let value = match known_value {
            Some(v) => Value::from(v),
            None => generate(input, known, unique, &mut emails, rng)?,
        };
        set_path(&mut traits, &input.path, value);
    }
    Ok(Value::Object(traits))
}

fn generate(
    input: &FormInput,
    known: &Known,
    unique: &str,
    emails: &mut usize,
    rng: &mut SmallRng,
) -> Result<Value, FillError> {
    let fail = |why: String| FillError {
        path: input.path.clone(),
        why,
    };
    let slug: String = known
        .first
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let slug = if slug.is_empty() { "user".into() } else { slug };
    let candidates: Vec<String> = match input.kind.as_str() {
        "number" => return Ok(Value::from(rng.gen_range(18..=99))),
        "checkbox" => return Ok(Value::Bool(true)),
        "email" => {
            *emails += 1;
            if *emails == 1 {
                vec![known.email.to_string()]
            } else {
                vec![format!("{slug}.{unique}.{emails}@example.org")]
            }
        }
        "tel" => {
            let area = AREA_CODES[rng.gen_range(0..AREA_CODES.len())];
            let exchange = rng.gen_range(200..=999);
            let line = rng.gen_range(0..=9999);
            vec![format!("+1{area}{exchange}{line:04}")]
        }
        "text" | "password" => vec![
            format!("{slug}_{unique}"),
            format!("{slug}{unique}"),
            unique.to_string(),
            format!("u{unique}"),
        ],
        "url" => vec![format!("https://example.org/{unique}")],
        "date" => vec![date(rng)],
        "datetime-local" => vec![format!("{}T12:00:00Z", date(rng))],
        other => {
            return Err(fail(format!(
                "its input type `{other}` is not one orysim knows"
            )))
        }
    };
    let Some(pattern) = &input.pattern else {
        return Ok(Value::from(
            candidates.into_iter().next().unwrap_or_default(),
        ));
    };
    let matcher = regex::Regex::new(pattern).map_err(|_| {
        fail(format!(
            "its pattern `{pattern}` is not a regular expression orysim reads"
        ))
    })?;
    if let Some(c) = candidates.into_iter().find(|c| matcher.is_match(c)) {
        return Ok(Value::from(c));
    }
    from_pattern(pattern, &matcher, rng)
        .map(Value::from)
        .ok_or_else(|| {
            fail(format!(
                "orysim cannot generate a value matching `{pattern}`"
            ))
        })
}

/// A random string matching `pattern` (anchors at its ends are implied by generating the
/// whole value), when the pattern is one a generator can follow.
fn from_pattern(pattern: &str, matcher: &regex::Regex, rng: &mut SmallRng) -> Option<String> {
    let body = pattern.strip_prefix('^').unwrap_or(pattern);
    let body = body.strip_suffix('$').unwrap_or(body);
    let generator = rand_regex::Regex::compile(body, 16).ok()?;
    (0..8)
        .map(|_| rng.sample::<String, _>(&generator))
        .find(|s| matcher.is_match(s))
}

fn date(rng: &mut SmallRng) -> String {
    format!(
        "{}-{:02}-{:02}",
        rng.gen_range(1950..=2005),
        rng.gen_range(1..=12),
        rng.gen_range(1..=28)
    )
}

/// Sets `traits.a.b` to `value`, making the objects on the way.
fn set_path(root: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts = path.split('.').peekable();
    let mut node = root;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            node.insert(part.to_string(), value);
            return;
        }
        let next = node
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        node = next.as_object_mut().expect("made an object just above");
    }
}

/// The string at a dotted path of `traits`.
pub fn string_at<'a>(traits: &'a Value, path: &str) -> Option<&'a str> {
    path.split('.')
        .try_fold(traits, |v, part| v.get(part))
        .and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn input(path: &str, kind: &str, required: bool, pattern: Option<&str>) -> FormInput {
        FormInput {
            path: path.into(),
            kind: kind.into(),
            required,
            pattern: pattern.map(String::from),
        }
    }

    const KNOWN: Known = Known {
        email: "ada.lovelace.t.1.1@example.org",
        first: "Ada",
        last: "Lovelace",
    };

    #[test]
    fn the_quickstart_form_gets_the_steps_own_values() {
        let inputs = [
            input("email", "email", true, None),
            input("name.first", "text", false, None),
            input("name.last", "text", false, None),
        ];
        let mut rng = SmallRng::seed_from_u64(1);
        let traits = fill(&inputs, &KNOWN, "t1x1", &mut rng).unwrap();
        assert_eq!(
            traits,
            serde_json::json!({"email": KNOWN.email, "name": {"first": "Ada", "last": "Lovelace"}})
        );
    }

    #[test]
    fn a_custom_form_is_filled_by_type_and_pattern_and_optional_inputs_are_left_out() {
        let inputs = [
            input("username", "text", true, Some("^[a-z][a-z0-9_]+$")),
            input("phone", "tel", true, None),
            input("tenant", "text", false, None),
            input("seats", "number", true, None),
            input("terms_accepted", "checkbox", true, None),
            input("born", "date", true, None),
            input("code", "text", true, Some("^[A-Z]{3}-[0-9]{4}$")),
        ];
        let mut rng = SmallRng::seed_from_u64(7);
        let traits = fill(&inputs, &KNOWN, "19ae3x7x12", &mut rng).unwrap();
        assert_eq!(traits["username"], "ada_19ae3x7x12");
        let phone = traits["phone"].as_str().unwrap();
        assert!(phone.starts_with("+1") && phone.len() == 12, "{phone}");
        assert!(traits.get("tenant").is_none());
        assert!((18..=99).contains(&traits["seats"].as_i64().unwrap()));
        assert_eq!(traits["terms_accepted"], true);
        assert_eq!(traits["born"].as_str().unwrap().len(), 10);
        let code = traits["code"].as_str().unwrap();
        assert!(
            regex::Regex::new("^[A-Z]{3}-[0-9]{4}$")
                .unwrap()
                .is_match(code),
            "{code}"
        );
        assert_eq!(string_at(&traits, "username"), Some("ada_19ae3x7x12"));
    }

    #[test]
    fn what_cannot_be_filled_names_the_trait() {
        let mut rng = SmallRng::seed_from_u64(1);
        let e = fill(
            &[input("colour", "color", true, None)],
            &KNOWN,
            "u",
            &mut rng,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot fill trait `traits.colour`: its input type `color` is not one orysim knows; \
             give the step a `traits` table"
        );
        let e = fill(
            &[input("id", "text", true, Some("^(?=x)y$"))],
            &KNOWN,
            "u",
            &mut rng,
        )
        .unwrap_err();
        assert_eq!(e.path, "id");
        assert!(e.why.contains("pattern"), "{}", e.why);
        // Optional inputs of unknown types are left alone.
        assert!(fill(&[input("c", "color", false, None)], &KNOWN, "u", &mut rng).is_ok());
    }
}
