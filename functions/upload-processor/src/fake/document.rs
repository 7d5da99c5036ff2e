//! Just enough of the GraphQL grammar to answer the service's documents: the first operation's
//! kind and name, its selection set (fields, aliases, arguments, nested selections) and argument
//! values with variables anywhere inside them. Comments, commas, strings with braces and block
//! strings do not confuse it; fragments are skipped, as the service sends none.

use serde_json::{Map, Number, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Query,
    Mutation,
    Subscription,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Query => "query",
            Kind::Mutation => "mutation",
            Kind::Subscription => "subscription",
        }
    }

    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Query => "Query",
            Kind::Mutation => "Mutation",
            Kind::Subscription => "Subscription",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Document {
    pub kind: Kind,
    pub name: Option<String>,
    pub selection: Vec<Field>,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub alias: Option<String>,
    pub name: String,
    pub args: Vec<(String, Arg)>,
    pub selection: Vec<Field>,
}

impl Field {
    /// The key of this field in the answer.
    pub fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }

    /// The named argument with the request's variables substituted; `Null` when absent.
    pub fn arg(&self, name: &str, variables: &Value) -> Value {
        self.args
            .iter()
            .find(|(n, _)| n == name)
            .map_or(Value::Null, |(_, a)| a.resolve(variables))
    }
}

#[derive(Debug, Clone)]
pub enum Arg {
    Variable(String),
    Scalar(Value),
    List(Vec<Arg>),
    Object(Vec<(String, Arg)>),
}

impl Arg {
    pub fn resolve(&self, variables: &Value) -> Value {
        match self {
            Arg::Variable(v) => variables.get(v).cloned().unwrap_or(Value::Null),
            Arg::Scalar(v) => v.clone(),
            Arg::List(items) => Value::Array(items.iter().map(|a| a.resolve(variables)).collect()),
            Arg::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, a)| (k.clone(), a.resolve(variables)))
                    .collect::<Map<_, _>>(),
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Punct(char),
    Spread,
    Name(String),
    Str(String),
    Num(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\u{feff}' | ',' => i += 1,
            c if c.is_whitespace() => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' && chars[i] != '\r' {
                    i += 1;
                }
            }
            '.' => {
                if chars.get(i..i + 3) == Some(&['.', '.', '.']) {
                    out.push(Token::Spread);
                    i += 3;
                } else {
                    return Err(format!("Syntax Error: Unexpected \".\" at {i}"));
                }
            }
            '{' | '}' | '(' | ')' | '[' | ']' | ':' | '$' | '!' | '=' | '@' | '|' | '&' => {
                out.push(Token::Punct(c));
                i += 1;
            }
            '"' => {
                if chars.get(i..i + 3) == Some(&['"', '"', '"']) {
                    let start = i + 3;
                    let mut j = start;
                    loop {
                        if j >= chars.len() {
                            return Err("Syntax Error: Unterminated string.".into());
                        }
                        if chars.get(j..j + 3) == Some(&['"', '"', '"']) {
                            break;
                        }
                        j += if chars.get(j..j + 4) == Some(&['\\', '"', '"', '"']) {
                            4
                        } else {
                            1
                        };
                    }
                    let raw: String = chars[start..j].iter().collect();
                    out.push(Token::Str(raw.replace("\\\"\"\"", "\"\"\"")));
                    i = j + 3;
                } else {
                    let mut s = String::new();
                    let mut j = i + 1;
                    loop {
                        match chars.get(j) {
                            None | Some('\n') => {
                                return Err("Syntax Error: Unterminated string.".into())
                            }
                            Some('"') => break,
                            Some('\\') => {
                                let esc = chars.get(j + 1).copied().unwrap_or('\\');
                                j += 2;
                                match esc {
                                    'n' => s.push('\n'),
                                    't' => s.push('\t'),
                                    'r' => s.push('\r'),
                                    'b' => s.push('\u{8}'),
                                    'f' => s.push('\u{c}'),
                                    'u' => {
                                        let hex: String = chars
                                            .get(j..j + 4)
                                            .map(|h| h.iter().collect())
                                            .unwrap_or_default();
                                        let ch = u32::from_str_radix(&hex, 16)
                                            .ok()
                                            .and_then(char::from_u32)
                                            .ok_or("Syntax Error: Invalid Unicode escape")?;
                                        s.push(ch);
                                        j += 4;
                                    }
                                    other => s.push(other),
                                }
                            }
                            Some(&ch) => {
                                s.push(ch);
                                j += 1;
                            }
                        }
                    }
                    out.push(Token::Str(s));
                    i = j + 1;
                }
            }
            c if c == '-' || c.is_ascii_digit() => {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_digit()
                        || matches!(chars[i], '.' | 'e' | 'E' | '+' | '-'))
                {
                    i += 1;
                }
                out.push(Token::Num(chars[start..i].iter().collect()));
            }
            c if c == '_' || c.is_ascii_alphabetic() => {
                let start = i;
                while i < chars.len() && (chars[i] == '_' || chars[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                out.push(Token::Name(chars[start..i].iter().collect()));
            }
            other => return Err(format!("Syntax Error: Unexpected character {other:?}.")),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Result<Token, String> {
        let t = self
            .tokens
            .get(self.at)
            .cloned()
            .ok_or("Syntax Error: Unexpected <EOF>.")?;
        self.at += 1;
        Ok(t)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Token::Punct(c)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!(
                "Syntax Error: Expected \"{c}\", found {}.",
                self.describe()
            ))
        }
    }

    fn describe(&self) -> String {
        match self.peek() {
            None => "<EOF>".into(),
            Some(Token::Punct(c)) => format!("\"{c}\""),
            Some(Token::Spread) => "\"...\"".into(),
            Some(Token::Name(n)) => format!("Name \"{n}\""),
            Some(Token::Str(_)) => "String".into(),
            Some(Token::Num(n)) => format!("Number \"{n}\""),
        }
    }

    fn name(&mut self) -> Result<String, String> {
        match self.next()? {
            Token::Name(n) => Ok(n),
            _ => {
                self.at -= 1;
                Err(format!(
                    "Syntax Error: Expected Name, found {}.",
                    self.describe()
                ))
            }
        }
    }

    /// Skips a balanced group that starts at the current `open` token.
    fn skip_group(&mut self, open: char, close: char) -> Result<(), String> {
        self.expect(open)?;
        let mut depth = 1;
        while depth > 0 {
            match self.next()? {
                Token::Punct(c) if c == open => depth += 1,
                Token::Punct(c) if c == close => depth -= 1,
                _ => {}
            }
        }
        Ok(())
    }

    fn directives(&mut self) -> Result<(), String> {
        while self.eat('@') {
            self.name()?;
            if self.peek() == Some(&Token::Punct('(')) {
                self.skip_group('(', ')')?;
            }
        }
        Ok(())
    }

    fn selection_set(&mut self) -> Result<Vec<Field>, String> {
        self.expect('{')?;
        let mut fields = Vec::new();
        while !self.eat('}') {
            if self.peek() == Some(&Token::Spread) {
                self.at += 1;
                // `... on Type { … }` keeps its fields; a named fragment spread has none here.
                if self.peek() == Some(&Token::Name("on".into())) {
                    self.at += 1;
                    self.name()?;
                }
                if matches!(self.peek(), Some(Token::Name(_))) {
                    self.name()?;
                }
                self.directives()?;
                if self.peek() == Some(&Token::Punct('{')) {
                    fields.extend(self.selection_set()?);
                }
                continue;
            }
            fields.push(self.field()?);
        }
        Ok(fields)
    }

    fn field(&mut self) -> Result<Field, String> {
        let first = self.name()?;
        let (alias, name) = if self.eat(':') {
            (Some(first), self.name()?)
        } else {
            (None, first)
        };
        let mut args = Vec::new();
        if self.eat('(') {
            while !self.eat(')') {
                let n = self.name()?;
                self.expect(':')?;
                args.push((n, self.value()?));
            }
        }
        self.directives()?;
        let selection = if self.peek() == Some(&Token::Punct('{')) {
            self.selection_set()?
        } else {
            Vec::new()
        };
        Ok(Field {
            alias,
            name,
            args,
            selection,
        })
    }

    fn value(&mut self) -> Result<Arg, String> {
        Ok(match self.next()? {
            Token::Punct('$') => Arg::Variable(self.name()?),
            Token::Str(s) => Arg::Scalar(Value::String(s)),
            Token::Num(n) => Arg::Scalar(
                n.parse::<i64>()
                    .map(Value::from)
                    .ok()
                    .or_else(|| {
                        n.parse::<f64>()
                            .ok()
                            .and_then(Number::from_f64)
                            .map(Value::Number)
                    })
                    .ok_or_else(|| format!("Syntax Error: Invalid number {n:?}."))?,
            ),
            Token::Name(n) => Arg::Scalar(match n.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => Value::String(n),
            }),
            Token::Punct('[') => {
                let mut items = Vec::new();
                while !self.eat(']') {
                    items.push(self.value()?);
                }
                Arg::List(items)
            }
            Token::Punct('{') => {
                let mut fields = Vec::new();
                while !self.eat('}') {
                    let n = self.name()?;
                    self.expect(':')?;
                    fields.push((n, self.value()?));
                }
                Arg::Object(fields)
            }
            _ => {
                self.at -= 1;
                return Err(format!("Syntax Error: Unexpected {}.", self.describe()));
            }
        })
    }
}

/// The operation named `operation_name`, else the first one.
pub fn parse(text: &str, operation_name: Option<&str>) -> Result<Document, String> {
    let mut p = Parser {
        tokens: tokenize(text)?,
        at: 0,
    };
    let mut first = None;
    while p.peek().is_some() {
        let doc = match p.peek() {
            Some(Token::Punct('{')) => Some(Document {
                kind: Kind::Query,
                name: None,
                selection: p.selection_set()?,
            }),
            Some(Token::Name(n)) if n == "fragment" => {
                while p.peek() != Some(&Token::Punct('{')) {
                    p.next()?;
                }
                p.skip_group('{', '}')?;
                None
            }
            Some(Token::Name(_)) => {
                let kind = match p.name()?.as_str() {
                    "query" => Kind::Query,
                    "mutation" => Kind::Mutation,
                    "subscription" => Kind::Subscription,
                    other => return Err(format!("Syntax Error: Unexpected Name \"{other}\".")),
                };
                let name = match p.peek() {
                    Some(Token::Name(_)) => Some(p.name()?),
                    _ => None,
                };
                if p.peek() == Some(&Token::Punct('(')) {
                    p.skip_group('(', ')')?;
                }
                p.directives()?;
                Some(Document {
                    kind,
                    name,
                    selection: p.selection_set()?,
                })
            }
            _ => return Err(format!("Syntax Error: Unexpected {}.", p.describe())),
        };
        if let Some(doc) = doc {
            match operation_name {
                Some(wanted) if doc.name.as_deref() == Some(wanted) => return Ok(doc),
                Some(_) => {
                    first.get_or_insert(doc);
                }
                None => return Ok(doc),
            }
        }
    }
    match (first, operation_name) {
        (_, Some(wanted)) => Err(format!("Unknown operation named \"{wanted}\".")),
        (Some(doc), None) => Ok(doc),
        (None, None) => Err("Must provide an operation.".into()),
    }
}

/// The answer's shape: `value` cut down to the fields `selection` asks for, under their keys.
pub fn project(value: &Value, selection: &[Field]) -> Value {
    if selection.is_empty() {
        return value.clone();
    }
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|v| project(v, selection)).collect()),
        Value::Object(map) => Value::Object(
            selection
                .iter()
                .map(|f| {
                    let v = map.get(&f.name).unwrap_or(&Value::Null);
                    (f.key().to_string(), project(v, &f.selection))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_the_root_fields_past_variables_comments_and_strings() {
        let doc = parse(
            "# a comment with { braces }\nmutation M($a: ID! = \"{\", $b: In) @dir(x: 1) {\n  api { x: uploadAnswer(mentorId: $a, answer: {t: \"}\", l: [1, $b, ENUM]}) other }\n}",
            None,
        )
        .unwrap();
        assert_eq!(doc.kind, Kind::Mutation);
        assert_eq!(doc.name.as_deref(), Some("M"));
        assert_eq!(doc.selection.len(), 1);
        let api = &doc.selection[0];
        assert_eq!(api.name, "api");
        let inner: Vec<&str> = api.selection.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(inner, ["uploadAnswer", "other"]);
        assert_eq!(api.selection[0].key(), "x");
        let vars = json!({"a": "m1", "b": {"k": true}});
        assert_eq!(api.selection[0].arg("mentorId", &vars), json!("m1"));
        assert_eq!(
            api.selection[0].arg("answer", &vars),
            json!({"t": "}", "l": [1, {"k": true}, "ENUM"]})
        );
    }

    #[test]
    fn anonymous_queries_and_operation_names() {
        let doc = parse("{ question(id: \"q\") { name } }", None).unwrap();
        assert_eq!(doc.kind, Kind::Query);
        assert_eq!(doc.selection[0].name, "question");
        let two = "query A { a } mutation B { api { b } }";
        assert_eq!(parse(two, Some("B")).unwrap().kind, Kind::Mutation);
        assert!(parse(two, Some("C")).is_err());
        assert!(parse("query { a", None).is_err());
    }

    #[test]
    fn projection_keeps_only_what_was_selected() {
        let doc = parse("{ t { a b: c { d } } }", None).unwrap();
        let v = json!({"a": 1, "c": {"d": 2, "e": 3}, "z": 4});
        assert_eq!(
            project(&v, &doc.selection[0].selection),
            json!({"a": 1, "b": {"d": 2}})
        );
    }
}
