//! A fast path for the YAML that definitions are actually written in.
//!
//! `serde_yaml` (libyaml) spends ~65 µs on a 2 KB definition, which alone would cap validation
//! at ~15,000 definitions per second per core. Almost every real definition uses a small, plain
//! subset of YAML: block mappings and sequences, one-line scalars (plain, single- or
//! double-quoted without escapes), one-line flow collections of scalars, and comments. This module
//! reads exactly that subset into a [`serde_json::Value`] in a few microseconds, and gives up —
//! returns `None` — on *anything* else: anchors, aliases, tags, block scalars, multi-line
//! scalars, escapes, complex keys, tabs, duplicate keys, odd indentation, directives. The caller
//! then parses with `serde_yaml`, which also produces every error message, so the fast path can
//! only ever make a valid document faster, never change its meaning or an error.
//!
//! Scalars are resolved exactly as `serde_yaml` 0.9 resolves untagged plain scalars (null, bool,
//! integer, float, else string); the rules below are ported from it, and a differential property
//! test checks that whenever this module answers, `serde_yaml` answers the same.

use serde_json::{Map, Number, Value};

/// Parses `text` if it stays within the subset; `None` means "ask `serde_yaml`".
pub(crate) fn parse(text: &str) -> Option<Value> {
    if text.bytes().any(|b| b == b'\t' || b == b'\r') {
        return None;
    }
    let mut lines = Vec::with_capacity(text.len() / 16);
    for raw in text.lines() {
        let content = raw.trim_start_matches(' ');
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if content.starts_with('%') {
            return None;
        }
        lines.push(Line {
            indent: raw.len() - content.len(),
            text: content.trim_end_matches(' '),
        });
    }
    let mut p = Parser { lines, pos: 0 };
    let first = p.lines.first()?.indent;
    let value = p.block(first)?;
    // Everything must have been consumed: a leftover line is a structure this subset does not
    // cover (or an error serde_yaml should report).
    (p.pos == p.lines.len() && value.is_object()).then_some(value)
}

struct Line<'a> {
    indent: usize,
    text: &'a str,
}

struct Parser<'a> {
    lines: Vec<Line<'a>>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Line<'a>> {
        self.lines.get(self.pos)
    }

    /// A block node whose first line is the current one, at `indent`.
    fn block(&mut self, indent: usize) -> Option<Value> {
        let line = self.peek()?;
        if line.indent != indent {
            return None;
        }
        if is_seq_entry(line.text) {
            self.sequence(indent)
        } else {
            self.mapping(indent)
        }
    }

    fn mapping(&mut self, indent: usize) -> Option<Value> {
        let mut map = Map::new();
        while let Some(line) = self.peek() {
            if line.indent < indent {
                break;
            }
            if line.indent > indent || is_seq_entry(line.text) {
                return None;
            }
            let (key, rest) = split_key(line.text)?;
            self.pos += 1;
            let value = if rest.is_empty() {
                self.nested(indent, true)?
            } else {
                inline_value(rest)?
            };
            if map.insert(key.to_owned(), value).is_some() {
                return None; // duplicate key
            }
        }
        Some(Value::Object(map))
    }

    fn sequence(&mut self, indent: usize) -> Option<Value> {
        let mut items = Vec::new();
        while let Some(line) = self.peek() {
            if line.indent < indent {
                break;
            }
            if line.indent > indent || !is_seq_entry(line.text) {
                // A sequence that is a mapping's value ends where the mapping's next key starts.
                if line.indent == indent {
                    break;
                }
                return None;
            }
            let after_dash = &line.text[1..];
            let rest = after_dash.trim_start_matches(' ');
            if rest.is_empty() {
                self.pos += 1;
                items.push(self.nested(indent, false)?);
            } else if rest.starts_with('#') {
                return None;
            } else if is_seq_entry(rest) || split_key(rest).is_some() {
                // `- key: value` or `- - item`: a block node starting on this line, indented to
                // where its text starts. Re-read this line as that node's first line.
                let inner = indent + 1 + (after_dash.len() - rest.len());
                self.lines[self.pos] = Line {
                    indent: inner,
                    text: rest,
                };
                items.push(self.block(inner)?);
            } else {
                self.pos += 1;
                items.push(inline_value(rest)?);
            }
        }
        Some(Value::Array(items))
    }

    /// The value of a key or dash with nothing after it: a block on the following lines, or null.
    /// A mapping's value may be a sequence at the mapping's own indentation.
    fn nested(&mut self, indent: usize, in_mapping: bool) -> Option<Value> {
        match self.peek() {
            Some(next) if next.indent > indent => {
                let i = next.indent;
                self.block(i)
            }
            Some(next) if in_mapping && next.indent == indent && is_seq_entry(next.text) => {
                self.sequence(indent)
            }
            _ => Some(Value::Null),
        }
    }
}

fn is_seq_entry(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Splits `key: rest` where the key is a plain identifier; `None` for anything else.
fn split_key(text: &str) -> Option<(&str, &str)> {
    let end = text
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/')))?;
    let (key, rest) = text.split_at(end);
    let rest = rest.strip_prefix(':')?;
    if key.is_empty() || !key.as_bytes()[0].is_ascii_alphabetic() {
        return None;
    }
    // Keys that resolve to something other than a string (`null:`, `true:`) are left to serde_yaml.
    if matches!(
        key,
        "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
    ) {
        return None;
    }
    if rest.is_empty() {
        return Some((key, rest));
    }
    let value = rest.strip_prefix(' ')?.trim_start_matches(' ');
    if value.starts_with('#') {
        return Some((key, ""));
    }
    Some((key, value))
}

/// A value written on the same line as its key or dash.
fn inline_value(text: &str) -> Option<Value> {
    match text.as_bytes()[0] {
        b'[' | b'{' => {
            let mut chars = Flow { text, pos: 0 };
            let value = chars.collection()?;
            only_comment(&text[chars.pos..]).then_some(value)
        }
        b'\'' | b'"' => {
            let (s, used) = quoted(text)?;
            only_comment(&text[used..]).then_some(Value::String(s))
        }
        _ => {
            let plain = match find_pair(text, b' ', b'#') {
                Some(i) => text[..i].trim_end_matches(' '),
                None => text,
            };
            if !plain_ok(plain, false) {
                return None;
            }
            resolve_plain(plain)
        }
    }
}

/// The position of the two bytes `a` `b` in a row (cheaper than a substring search on the short
/// strings seen here).
fn find_pair(s: &str, a: u8, b: u8) -> Option<usize> {
    s.as_bytes().windows(2).position(|w| w[0] == a && w[1] == b)
}

/// Whether `rest` (after a value) is blank or a comment (which needs a space before its `#`).
fn only_comment(rest: &str) -> bool {
    rest.is_empty() || rest.starts_with(' ') && rest.trim_start_matches(' ').starts_with('#')
}

/// Whether a plain scalar is one this subset reads the same way YAML does.
fn plain_ok(s: &str, flow: bool) -> bool {
    let Some(&first) = s.as_bytes().first() else {
        return false;
    };
    if matches!(
        first,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    ) && !(first == b'-' && s.len() > 1 && s.as_bytes()[1] != b' ')
    {
        return false;
    }
    if find_pair(s, b':', b' ').is_some() || s.ends_with(':') || find_pair(s, b' ', b'#').is_some()
    {
        return false;
    }
    !(flow && s.contains([',', '[', ']', '{', '}', ':', '#']))
}

/// A quoted scalar at the start of `text`: its value and the bytes it used.
fn quoted(text: &str) -> Option<(String, usize)> {
    let quote = text.as_bytes()[0];
    let body = &text[1..];
    if quote == b'"' {
        let end = body.find(['"', '\\'])?;
        if body.as_bytes()[end] == b'\\' {
            return None;
        }
        return Some((body[..end].to_owned(), end + 2));
    }
    let mut out = String::new();
    let mut i = 0;
    loop {
        let next = body[i..].find('\'')? + i;
        out.push_str(&body[i..next]);
        if body[next + 1..].starts_with('\'') {
            out.push('\'');
            i = next + 2;
        } else {
            return Some((out, next + 2));
        }
    }
}

/// A one-line flow collection of scalars.
struct Flow<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Flow<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn skip_spaces(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start_matches(' ').len();
    }

    fn collection(&mut self) -> Option<Value> {
        let open = self.text.as_bytes()[self.pos];
        let close = if open == b'[' { ']' } else { '}' };
        self.pos += 1;
        let mut items = Vec::new();
        let mut map = Map::new();
        self.skip_spaces();
        if self.rest().starts_with(close) {
            self.pos += 1;
        } else {
            loop {
                self.skip_spaces();
                if open == b'[' {
                    items.push(self.node()?);
                } else {
                    let key = self.scalar()?;
                    let Value::String(key) = key else {
                        return None;
                    };
                    self.skip_spaces();
                    let rest = self.rest();
                    if !rest.starts_with(": ") {
                        return None;
                    }
                    self.pos += 1;
                    self.skip_spaces();
                    let value = self.node()?;
                    if map.insert(key, value).is_some() {
                        return None;
                    }
                }
                self.skip_spaces();
                let rest = self.rest();
                if rest.starts_with(',') {
                    self.pos += 1;
                    self.skip_spaces();
                    if self.rest().starts_with(close) {
                        return None; // a trailing comma: valid YAML, left to serde_yaml
                    }
                } else if rest.starts_with(close) {
                    self.pos += 1;
                    break;
                } else {
                    return None;
                }
            }
        }
        Some(if open == b'[' {
            Value::Array(items)
        } else {
            Value::Object(map)
        })
    }

    /// A collection or a scalar inside a flow collection. Nesting is bounded by the caller's
    /// limit on flow collections per document.
    fn node(&mut self) -> Option<Value> {
        match self.rest().as_bytes().first()? {
            b'[' | b'{' => self.collection(),
            _ => self.scalar(),
        }
    }

    /// A scalar inside a flow collection, up to `,`, `]`, `}` or `: `.
    fn scalar(&mut self) -> Option<Value> {
        let rest = self.rest();
        match rest.as_bytes().first()? {
            b'\'' | b'"' => {
                let (s, used) = quoted(rest)?;
                self.pos += used;
                Some(Value::String(s))
            }
            _ => {
                let end = rest.find([',', ']', '}']).unwrap_or(rest.len());
                let candidate = &rest[..end];
                // In a flow mapping the key ends at `: `.
                let (s, used) = match find_pair(candidate, b':', b' ') {
                    Some(i) => (&candidate[..i], i),
                    None => (candidate, end),
                };
                let s = s.trim_end_matches(' ');
                if !plain_ok(s, true) {
                    return None;
                }
                self.pos += used;
                resolve_plain(s)
            }
        }
    }
}

/// Resolves an untagged plain scalar exactly as `serde_yaml` 0.9 does for a `serde_json::Value`;
/// `None` where that would not be an ordinary JSON value (128-bit integers, inf, NaN).
fn resolve_plain(v: &str) -> Option<Value> {
    // Most scalars are words: only the null and boolean words resolve to anything but a string
    // (`nan`, `inf` parse as floats but are not finite, so serde_yaml keeps them as strings too).
    if v.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
        return Some(match v {
            "null" | "Null" | "NULL" => Value::Null,
            "true" | "True" | "TRUE" => Value::Bool(true),
            "false" | "False" | "FALSE" => Value::Bool(false),
            _ => Value::String(v.to_owned()),
        });
    }
    if v.is_empty() || matches!(v, "~" | "null" | "Null" | "NULL") {
        return Some(Value::Null);
    }
    match v {
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    if let Some(n) = parse_unsigned_int(v, u64::from_str_radix) {
        return Some(Value::Number(n.into()));
    }
    if let Some(n) = parse_negative_int(v, i64::from_str_radix) {
        return Some(Value::Number(n.into()));
    }
    if parse_unsigned_int(v, u128::from_str_radix).is_some()
        || parse_negative_int(v, i128::from_str_radix).is_some()
    {
        return None;
    }
    if !digits_but_not_number(v) {
        if let Some(f) = parse_f64(v) {
            return Number::from_f64(f).map(Value::Number);
        }
        let unsigned = v.strip_prefix('+').unwrap_or(v);
        let special = unsigned.strip_prefix('-').unwrap_or(unsigned);
        if matches!(special, ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN") {
            return None;
        }
    }
    Some(Value::String(v.to_owned()))
}

// The three functions below are serde_yaml 0.9's (src/de.rs), so that resolution matches.

fn parse_unsigned_int<T>(
    scalar: &str,
    from_str_radix: fn(&str, u32) -> Result<T, std::num::ParseIntError>,
) -> Option<T> {
    let unpositive = scalar.strip_prefix('+').unwrap_or(scalar);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unpositive.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(int) = from_str_radix(rest, radix) {
                return Some(int);
            }
        }
    }
    if unpositive.starts_with(['+', '-']) || digits_but_not_number(scalar) {
        return None;
    }
    from_str_radix(unpositive, 10).ok()
}

fn parse_negative_int<T>(
    scalar: &str,
    from_str_radix: fn(&str, u32) -> Result<T, std::num::ParseIntError>,
) -> Option<T> {
    for (prefix, radix) in [("-0x", 16), ("-0o", 8), ("-0b", 2)] {
        if let Some(rest) = scalar.strip_prefix(prefix)
            && let Ok(int) = from_str_radix(&format!("-{rest}"), radix)
        {
            return Some(int);
        }
    }
    if digits_but_not_number(scalar) {
        return None;
    }
    from_str_radix(scalar, 10).ok()
}

fn parse_f64(scalar: &str) -> Option<f64> {
    let unpositive = match scalar.strip_prefix('+') {
        Some(u) if u.starts_with(['+', '-']) => return None,
        Some(u) => u,
        None => scalar,
    };
    unpositive.parse::<f64>().ok().filter(|f| f.is_finite())
}

fn digits_but_not_number(scalar: &str) -> bool {
    let scalar = scalar.strip_prefix(['-', '+']).unwrap_or(scalar);
    scalar.len() > 1 && scalar.starts_with('0') && scalar[1..].bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// What serde_yaml makes of `text`, as the fast path must.
    fn reference(text: &str) -> Option<Value> {
        serde_yaml::from_str::<Value>(text).ok()
    }

    fn agrees(text: &str) -> Option<Value> {
        let fast = parse(text);
        if let Some(v) = &fast {
            assert_eq!(
                Some(v),
                reference(text).as_ref(),
                "fast path disagrees on:\n{text}"
            );
        }
        fast
    }

    #[test]
    fn reads_the_common_shapes() {
        let text = "\
# a component
name: db   # trailing comment
version: 1.2.3
count: 10
ratio: 0.5
neg: -3
flag: true
nothing:
empty: ''
quoted: \"a # not a comment\"
single: 'it''s'
url: http://x.example/a#frag
list: [a, 'b c', \"d\", 1, [x, {y: [z]}]]
map: {a: 1, b: \"x, y\"}
none: []
deps:
- name: vpc
  version_req: ^1.2
-   name: kms
    version_req: '>=1, <2'
nested:
  inner:
    - 1
    - - 2
      - 3
  other: x
";
        let v = agrees(text).expect("in the subset");
        assert_eq!(v["deps"][1]["version_req"], json!(">=1, <2"));
        assert_eq!(v["nested"]["inner"], json!([1, [2, 3]]));
        assert_eq!(v["nothing"], Value::Null);
        assert_eq!(v["url"], json!("http://x.example/a#frag"));
    }

    #[test]
    fn leaves_everything_else_to_serde_yaml() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: |\n  text\n",
            "a: >\n  text\n",
            "a: one\n  two\n",
            "a:\n  text\n",
            "a: \"esc\\n\"\n",
            "a: 'multi\n  line'\n",
            "a: 1\na: 2\n",
            "? a\n: b\n",
            "a:\tb\n",
            "a: [1, [2]\n",
            "a: [1, {b}]\n",
            "a: [1, 2,]\n",
            "a: b: c\n",
            "\"a\": 1\n",
            "a: .inf\n",
            "a: 99999999999999999999999\n",
            "- a\n- b\n",
            "a: 1\n b: 2\n",
            "a:\n    b: 1\n  c: 2\n",
            "%YAML 1.2\na: 1\n",
        ] {
            assert_eq!(agrees(text), None, "should have declined:\n{text}");
        }
    }

    #[test]
    fn scalars_resolve_as_serde_yaml_resolves_them() {
        for s in [
            "0",
            "007",
            "-0",
            "+1",
            "-12",
            "1.5",
            "-1.5",
            "1.",
            ".5",
            "1e3",
            "1_000",
            "0x1f",
            "0o17",
            "0b101",
            "-0x1f",
            "+-1",
            "1e400",
            "0x1F",
            "1.2.3",
            "^1.2",
            "v1",
            "null",
            "Null",
            "~",
            "TRUE",
            "yes",
            "no",
            "on",
            "1:2",
            "a-b",
            "-a",
            "18446744073709551615",
            "-9223372036854775808",
        ] {
            agrees(&format!("k: {s}\n"));
            agrees(&format!("k: [{s}]\n"));
        }
    }

    /// Documents assembled from pieces of the subset and of its edges: the fast path either
    /// declines or agrees with serde_yaml.
    fn document() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec!["a", "b", "name", "x_y", "true", "k-1", "v.2"]);
        let scalar = prop::sample::select(vec![
            "1",
            "-2",
            "0.5",
            "007",
            "1.2.3",
            "abc",
            "a b",
            "'q'",
            "\"d\"",
            "'it''s'",
            "~",
            "",
            "[]",
            "[1, b]",
            "{a: 1}",
            "{}",
            "a#b",
            "a #c",
            "x:y",
            "- z",
            "&a 1",
            "*a",
            "!t x",
            "\"a\\tb\"",
            "[a, 'b, c']",
            "{a: [1]}",
            "0x10",
            ".nan",
            "http://h:1/p",
            "'",
            "1e5",
        ]);
        let indent = prop::sample::select(vec!["", " ", "  ", "    "]);
        let line = (indent, prop::bool::ANY, key, scalar).prop_map(|(ind, dash, k, s)| {
            let dash = if dash { "- " } else { "" };
            if s.is_empty() {
                format!("{ind}{dash}{k}:")
            } else {
                format!("{ind}{dash}{k}: {s}")
            }
        });
        prop::collection::vec(line, 1..8).prop_map(|lines| lines.join("\n") + "\n")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn never_disagrees_with_serde_yaml(text in document()) {
            agrees(&text);
        }

        #[test]
        fn never_panics(text in "[ -~\n]{0,200}") {
            let _ = parse(&text);
        }
    }
}
