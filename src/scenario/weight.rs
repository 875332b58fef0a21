//! Flow weights: a number, or arithmetic over numbers and parameters, e.g.
//! `"65 * (1 - param.negative_share)"`, so one parameter can shift traffic between flows.

use std::collections::BTreeMap;

pub fn eval(expr: &str, params: &BTreeMap<String, String>) -> Result<f64, String> {
    let tokens = tokenize(expr)?;
    let mut p = Parser {
        tokens: &tokens,
        pos: 0,
        params,
    };
    let v = p.sum()?;
    if p.pos != tokens.len() {
        return Err(format!("unexpected `{}`", tokens[p.pos].text()));
    }
    Ok(v)
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

fn tokenize(s: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if "+-*/()".contains(c) {
            out.push(Token::Op(c));
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Token::Num(
                text.parse()
                    .map_err(|_| format!("`{text}` is not a number"))?,
            ));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            out.push(Token::Name(chars[start..i].iter().collect()));
        } else {
            return Err(format!("unexpected `{c}`"));
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
    params: &'a BTreeMap<String, String>,
}

impl Parser<'_> {
    fn peek_op(&self) -> Option<char> {
        match self.tokens.get(self.pos) {
            Some(Token::Op(c)) => Some(*c),
            _ => None,
        }
    }

    fn sum(&mut self) -> Result<f64, String> {
        let mut v = self.product()?;
        while let Some(op @ ('+' | '-')) = self.peek_op() {
            self.pos += 1;
            let rhs = self.product()?;
            v = if op == '+' { v + rhs } else { v - rhs };
        }
        Ok(v)
    }

    fn product(&mut self) -> Result<f64, String> {
        let mut v = self.atom()?;
        while let Some(op @ ('*' | '/')) = self.peek_op() {
            self.pos += 1;
            let rhs = self.atom()?;
            v = if op == '*' {
                v * rhs
            } else if rhs == 0.0 {
                return Err("division by zero".into());
            } else {
                v / rhs
            };
        }
        Ok(v)
    }

    fn atom(&mut self) -> Result<f64, String> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        match token {
            Some(Token::Num(n)) => Ok(n),
            Some(Token::Op('-')) => Ok(-self.atom()?),
            Some(Token::Op('(')) => {
                let v = self.sum()?;
                match self.tokens.get(self.pos) {
                    Some(Token::Op(')')) => {
                        self.pos += 1;
                        Ok(v)
                    }
                    _ => Err("missing `)`".into()),
                }
            }
            Some(Token::Name(name)) => {
                let Some(param) = name.strip_prefix("param.") else {
                    return Err(format!(
                        "`{name}`: only parameters (param.NAME) can be used"
                    ));
                };
                let value = self
                    .params
                    .get(param)
                    .ok_or_else(|| format!("unknown parameter `{param}`"))?;
                value
                    .trim()
                    .parse()
                    .map_err(|_| format!("parameter `{param}` = `{value}` is not a number"))
            }
            Some(t) => Err(format!("unexpected `{}`", t.text())),
            None => Err("the expression ends too early".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_over_parameters() {
        let params = BTreeMap::from([("neg".to_string(), "0.25".to_string())]);
        assert_eq!(eval("65 * (1 - param.neg)", &params), Ok(48.75));
        assert_eq!(eval("2 + 3 * 4", &params), Ok(14.0));
        assert_eq!(eval("-1 + 3", &params), Ok(2.0));
        assert!(eval("param.nope", &params)
            .unwrap_err()
            .contains("unknown parameter"));
        assert!(eval("neg", &params)
            .unwrap_err()
            .contains("only parameters"));
        assert!(eval("(1 + 2", &params).is_err());
        assert!(eval("1 / 0", &params).is_err());
        assert!(eval("1 2", &params).is_err());
    }
}
