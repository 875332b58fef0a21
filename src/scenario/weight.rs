//! Flow weights: a number, or arithmetic over numbers and parameters, e.g.
//! `"65 * (1 - param.negative_share)"`, so one parameter can shift traffic between flows.

use crate::ground::text::closest;
use std::collections::BTreeMap;

/// What is wrong with a weight expression, and where: a byte offset into the expression.
#[derive(Debug, PartialEq)]
pub struct WeightError {
    pub offset: usize,
    pub message: String,
    pub hint: Option<String>,
}

/// Parentheses and unary minus nest at most this deep: the parser recurses, and a file must
/// not be able to overflow the stack.
const MAX_DEPTH: usize = 32;

pub fn eval(expr: &str, params: &BTreeMap<String, String>) -> Result<f64, WeightError> {
    let tokens = tokenize(expr)?;
    let mut p = Parser {
        tokens: &tokens,
        pos: 0,
        depth: 0,
        end: expr.len(),
        params,
    };
    let v = p.sum()?;
    if let Some((t, at)) = tokens.get(p.pos) {
        return Err(err(*at, format!("unexpected `{}`", t.text())));
    }
    Ok(v)
}

fn err(offset: usize, message: impl Into<String>) -> WeightError {
    WeightError {
        offset,
        message: message.into(),
        hint: None,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Num(f64),
    Name(String),
    Op(char),
}

impl Token {
    fn text(&self) -> String {
        match self {
            Token::Num(n) => n.to_string(),
            Token::Name(s) => s.clone(),
            Token::Op(c) => c.to_string(),
        }
    }
}

/// Tokens with the byte offset each starts at.
fn tokenize(s: &str) -> Result<Vec<(Token, usize)>, WeightError> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let at = |i: usize| chars.get(i).map_or(s.len(), |(o, _)| *o);
    let mut i = 0;
    while i < chars.len() {
        let (start_offset, c) = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if "+-*/()".contains(c) {
            out.push((Token::Op(c), start_offset));
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].1.is_ascii_digit() || chars[i].1 == '.') {
                i += 1;
            }
            let text = &s[start_offset..at(i)];
            let n = text
                .parse()
                .map_err(|_| err(start_offset, format!("`{text}` is not a number")))?;
            out.push((Token::Num(n), chars[start].0));
        } else if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len()
                && (chars[i].1.is_ascii_alphanumeric() || chars[i].1 == '_' || chars[i].1 == '.')
            {
                i += 1;
            }
            out.push((
                Token::Name(s[start_offset..at(i)].to_string()),
                start_offset,
            ));
        } else {
            return Err(err(start_offset, format!("unexpected `{c}`")));
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: &'a [(Token, usize)],
    pos: usize,
    depth: usize,
    /// Offset of the end of the expression.
    end: usize,
    params: &'a BTreeMap<String, String>,
}

impl Parser<'_> {
    fn peek_op(&self) -> Option<(char, usize)> {
        match self.tokens.get(self.pos) {
            Some((Token::Op(c), at)) => Some((*c, *at)),
            _ => None,
        }
    }

    fn sum(&mut self) -> Result<f64, WeightError> {
        let mut v = self.product()?;
        while let Some((op @ ('+' | '-'), _)) = self.peek_op() {
            self.pos += 1;
            let rhs = self.product()?;
            v = if op == '+' { v + rhs } else { v - rhs };
        }
        Ok(v)
    }

    fn product(&mut self) -> Result<f64, WeightError> {
        let mut v = self.atom()?;
        while let Some((op @ ('*' | '/'), at)) = self.peek_op() {
            self.pos += 1;
            let rhs = self.atom()?;
            v = if op == '*' {
                v * rhs
            } else if rhs == 0.0 {
                return Err(err(at, "division by zero"));
            } else {
                v / rhs
            };
        }
        Ok(v)
    }

    fn atom(&mut self) -> Result<f64, WeightError> {
        let Some((token, at)) = self.tokens.get(self.pos).cloned() else {
            return Err(err(self.end, "the expression ends too early"));
        };
        self.pos += 1;
        match token {
            Token::Num(n) => Ok(n),
            Token::Op(c @ ('-' | '(')) => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(err(at, "the expression nests too deeply"));
                }
                let v = if c == '-' {
                    -self.atom()?
                } else {
                    let v = self.sum()?;
                    match self.tokens.get(self.pos) {
                        Some((Token::Op(')'), _)) => self.pos += 1,
                        _ => return Err(err(at, "this `(` is never closed")),
                    }
                    v
                };
                self.depth -= 1;
                Ok(v)
            }
            Token::Name(name) => {
                let Some(param) = name.strip_prefix("param.") else {
                    return Err(WeightError {
                        offset: at,
                        message: format!("`{name}` is not a number or a parameter"),
                        hint: Some(format!("write param.{name} for a parameter")),
                    });
                };
                let Some(value) = self.params.get(param) else {
                    let names: Vec<&str> = self.params.keys().map(String::as_str).collect();
                    return Err(WeightError {
                        offset: at,
                        message: format!("unknown parameter `{param}`"),
                        hint: Some(match closest(param, &names) {
                            Some(c) => format!("did you mean `param.{c}`?"),
                            None => "declare it under [params]".into(),
                        }),
                    });
                };
                match value.trim().parse::<f64>() {
                    Ok(x) if x.is_finite() => Ok(x),
                    _ => Err(err(
                        at,
                        format!("parameter `{param}` = `{value}` is not a number"),
                    )),
                }
            }
            t => Err(err(at, format!("unexpected `{}`", t.text()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(expr: &str) -> String {
        let params = BTreeMap::from([("neg".to_string(), "0.25".to_string())]);
        eval(expr, &params).unwrap_err().message
    }

    #[test]
    fn arithmetic_over_parameters() {
        let params = BTreeMap::from([("neg".to_string(), "0.25".to_string())]);
        assert_eq!(eval("65 * (1 - param.neg)", &params), Ok(48.75));
        assert_eq!(eval("2 + 3 * 4", &params), Ok(14.0));
        assert_eq!(eval("-1 + 3", &params), Ok(2.0));
        assert_eq!(eval("--2", &params), Ok(2.0));
        assert!(message("param.nope").contains("unknown parameter"));
        assert!(message("neg").contains("not a number or a parameter"));
        assert!(message("(1 + 2").contains("never closed"));
        assert!(message("1 / 0").contains("division by zero"));
        assert!(message("1 2").contains("unexpected `2`"));
        assert!(message("1 +").contains("ends too early"));
    }

    #[test]
    fn errors_say_where_in_the_expression() {
        let params = BTreeMap::from([("share".to_string(), "0.5".to_string())]);
        let e = eval("10 * param.shares", &params).unwrap_err();
        assert_eq!(
            e,
            WeightError {
                offset: 5,
                message: "unknown parameter `shares`".into(),
                hint: Some("did you mean `param.share`?".into()),
            }
        );
        assert_eq!(eval("1 + (2 * 3", &params).unwrap_err().offset, 4);
        assert_eq!(eval("1 / 0", &params).unwrap_err().offset, 2);
        assert_eq!(eval("1 +", &params).unwrap_err().offset, 3);
        assert_eq!(eval("é + 1", &params).unwrap_err().offset, 0);
        assert_eq!(eval("1 + é", &params).unwrap_err().offset, 4);
    }

    #[test]
    fn deep_nesting_and_odd_parameter_values_are_errors_not_crashes() {
        let deep = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(message(&deep).contains("nests too deeply"));
        let minus = format!("{}1", "-".repeat(100_000));
        assert!(message(&minus).contains("nests too deeply"));
        let nested_ok = format!("{}1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(eval(&nested_ok, &BTreeMap::new()), Ok(1.0));
        for odd in ["inf", "NaN", "-inf", "x"] {
            let params = BTreeMap::from([("p".to_string(), odd.to_string())]);
            let e = eval("param.p", &params).unwrap_err();
            assert_eq!(
                e.message,
                format!("parameter `p` = `{odd}` is not a number")
            );
        }
    }
}
