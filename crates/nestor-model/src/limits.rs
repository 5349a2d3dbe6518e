//! The rules on the shape of what clients send, in one place: the bounds and patterns that the
//! checks enforce (the definition rules of `nestor-validation`, the filter parser, the PATCH
//! checks, the route handlers), and the JSON Schemas that the OpenAPI document describes them
//! with, built from the same constants — so that the document allows exactly what the server
//! accepts (docs/api.md, "The OpenAPI document").
//!
//! Sizes are counted in characters (Unicode scalar values), as JSON Schema's `maxLength` counts
//! them; values of any type (defaults, allowed values) are measured as compact JSON, in bytes.

use utoipa::openapi::{
    ArrayBuilder, ObjectBuilder, RefOr, Schema,
    schema::{AdditionalProperties, SchemaType, Type},
};

/// Longest component (and engine) name.
pub const NAME_MAX: usize = 63;
/// The component-name rule: what [`crate::ComponentName::parse`] accepts.
pub const NAME_PATTERN: &str = "^[a-z][a-z0-9-]{0,62}$";
/// Longest input or output name. Terraform variables are the model: terraform-aws-vpc has had
/// a 65-character variable since 4.0.0, so 64 kept five real releases out; 128 leaves room
/// without letting names become text.
pub const FIELD_NAME_MAX: usize = 128;
/// The rule on input and output names.
pub const FIELD_NAME_PATTERN: &str = "^[a-z][a-z0-9_]{0,127}$";
/// Longest version string: pre-release and all (a 20 KB one could not even be read back
/// through a URL).
pub const VERSION_MAX: usize = 128;
/// Most digits of a version's major, minor or patch number (19 digits always fit in 64 bits).
pub const VERSION_NUMBER_DIGITS: usize = 19;
/// What [`crate::parse_version`] accepts (with [`VERSION_MAX`]): SemVer 2.0, no build metadata.
pub const VERSION_PATTERN: &str = "^(0|[1-9][0-9]{0,18})\\.(0|[1-9][0-9]{0,18})\\.(0|[1-9][0-9]{0,18})\
     (-(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(\\.(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?$";

/// Most entries of a list in a definition (engines, dependencies, inputs, outputs, allowed
/// values, acknowledged changes).
pub const MAX_LIST: usize = 256;
/// Longest prose: descriptions, annotation values, a deprecation message.
pub const MAX_TEXT: usize = 8 * 1024;
/// Longest short text: provider, category, resource type, engine names, version requirements,
/// the path of an acknowledged change.
pub const MAX_SHORT: usize = 256;
/// Most labels, and most annotations.
pub const MAX_ENTRIES: usize = 64;
/// Longest label or annotation key.
pub const MAX_KEY: usize = 128;
/// Longest label value: labels are short tags that queries filter on (`label=team:data`);
/// prose belongs in annotations.
pub const MAX_LABEL_VALUE: usize = 256;
/// Longest `resource_limits` quantity (`500m`, `512Mi`).
pub const MAX_QUANTITY: usize = 64;
/// Longest reason of an acknowledged breaking change.
pub const MAX_REASON: usize = 1024;
/// Largest default value, as compact JSON, in bytes.
pub const MAX_DEFAULT: usize = 8 * 1024;
/// Largest allowed value, as compact JSON, in bytes: allowed values are choices
/// (`db.t3.micro`), not documents.
pub const MAX_ALLOWED_VALUE: usize = 1024;

/// Longest token name in an owners list.
pub const MAX_OWNER_NAME: usize = 128;

/// Whether `name` can be a token name in an owners list: 1 to [`MAX_OWNER_NAME`] characters,
/// no whitespace or control characters.
pub fn is_owner_name(name: &str) -> bool {
    !name.is_empty()
        && char_len(name) <= MAX_OWNER_NAME
        && !name.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// The pattern of [`is_owner_name`] (with its length bounds).
pub fn owner_name_pattern() -> String {
    format!(
        "^[^{}{}]+$",
        class(&UNSAFE[..2], &[]),
        class(WHITESPACE, &[])
    )
}

/// Characters no text may hold: control characters (NUL, the ESC of ANSI escape sequences, C1
/// controls: exactly `char::is_control`) and bidirectional overrides, which can make text
/// display as something else. Text reaches logs, terminals and web pages.
const UNSAFE: &[(char, char)] = &[
    ('\u{0}', '\u{1f}'),
    ('\u{7f}', '\u{9f}'),
    ('\u{202a}', '\u{202e}'),
    ('\u{2066}', '\u{2069}'),
];
/// The control characters that multi-line text (descriptions, annotation values, deprecation
/// messages) may hold: tab and line breaks.
const MULTILINE: &[char] = &['\t', '\n', '\r'];
/// Exactly the characters of `char::is_whitespace` (what `str::trim` removes).
const WHITESPACE: &[(char, char)] = &[
    ('\t', '\r'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

/// Whether text may not hold `c` (`multiline`: tab and line breaks are allowed).
pub fn unsafe_char(c: char, multiline: bool) -> bool {
    UNSAFE.iter().any(|&(lo, hi)| (lo..=hi).contains(&c)) && !(multiline && MULTILINE.contains(&c))
}

/// The size of `s` as the limits count it: characters.
pub fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// How a limit is said, the same on every route: "must be between 1 and 500".
pub fn between(min: impl std::fmt::Display, max: impl std::fmt::Display) -> String {
    format!("must be between {min} and {max}")
}

/// The kind of text a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// One line: no control characters at all.
    Line,
    /// Several lines: tab and line breaks allowed.
    Lines,
}

/// A regex character class body of the characters in `ranges` but not in `except`.
fn class(ranges: &[(char, char)], except: &[char]) -> String {
    let mut chars: Vec<char> = ranges
        .iter()
        .flat_map(|&(lo, hi)| lo..=hi)
        .filter(|c| !except.contains(c))
        .collect();
    chars.sort_unstable();
    let esc = |c: char| format!("\\u{:04x}", c as u32);
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let mut j = i;
        while j + 1 < chars.len() && chars[j + 1] as u32 == chars[j] as u32 + 1 {
            j += 1;
        }
        out.push_str(&esc(chars[i]));
        if j > i {
            out.push('-');
            out.push_str(&esc(chars[j]));
        }
        i = j + 1;
    }
    out
}

/// The pattern of text of `kind` (`non_blank`: with at least one character that is not
/// whitespace, as `str::trim` sees it). Written for ECMA-262, Python and Rust regular
/// expressions alike (`\uXXXX` escapes, character classes only).
pub fn text_pattern(kind: Text, non_blank: bool) -> String {
    let except: &[char] = match kind {
        Text::Line => &[],
        Text::Lines => MULTILINE,
    };
    let unsafe_class = class(UNSAFE, except);
    if !non_blank {
        return format!("^[^{unsafe_class}]*$");
    }
    format!(
        "^[^{unsafe_class}]*[^{unsafe_class}{}][^{unsafe_class}]*$",
        class(WHITESPACE, &[])
    )
}

fn nullable_type(t: Type, nullable: bool) -> SchemaType {
    if nullable {
        SchemaType::from_iter([t, Type::Null])
    } else {
        SchemaType::Type(t)
    }
}

/// A string of at most `max` characters of `kind`.
pub fn text(kind: Text, max: usize, non_blank: bool) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(non_blank.then_some(1))
        .max_length(Some(max))
        .pattern(Some(text_pattern(kind, non_blank)))
}

/// A component name ([`NAME_PATTERN`]).
pub fn name() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(NAME_MAX))
        .pattern(Some(NAME_PATTERN))
        .examples(["aws-rds-postgres"])
}

/// A version ([`VERSION_PATTERN`], at most [`VERSION_MAX`] characters).
pub fn version() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(5))
        .max_length(Some(VERSION_MAX))
        .pattern(Some(VERSION_PATTERN))
        .examples(["1.2.0"])
}

/// An input or output name ([`FIELD_NAME_PATTERN`]).
pub fn field_name() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(FIELD_NAME_MAX))
        .pattern(Some(FIELD_NAME_PATTERN))
}

/// Labels (`value_kind` [`Text::Line`], values up to [`MAX_LABEL_VALUE`]) or annotations
/// ([`Text::Lines`], up to [`MAX_TEXT`]): at most [`MAX_ENTRIES`] keys of 1 to [`MAX_KEY`]
/// characters of one line.
pub fn string_map(value_kind: Text, value_max: usize, nullable: bool) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(nullable_type(Type::Object, nullable))
        .max_properties(Some(MAX_ENTRIES))
        .property_names(Some(text(Text::Line, MAX_KEY, false).min_length(Some(1))))
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(Schema::Object(
            text(value_kind, value_max, false).build(),
        )))))
}

/// `ObjectBuilder` as a schema, for `#[schema(schema_with = …)]`.
fn schema(o: ObjectBuilder) -> Schema {
    Schema::Object(o.build())
}

/// `#[schema(schema_with)]` of a component name.
pub fn name_schema() -> Schema {
    schema(name())
}

/// `#[schema(schema_with)]` of a version.
pub fn version_schema() -> Schema {
    schema(version())
}

/// `#[schema(schema_with)]` of an input or output name.
pub fn field_name_schema() -> Schema {
    schema(field_name())
}

/// `#[schema(schema_with)]` of a description: required prose.
pub fn description_schema() -> Schema {
    schema(text(Text::Lines, MAX_TEXT, true))
}

/// `#[schema(schema_with)]` of an optional description (of an input or output).
pub fn optional_description_schema() -> Schema {
    schema(text(Text::Lines, MAX_TEXT, false))
}

/// `#[schema(schema_with)]` of a required short text (provider, category, resource type).
pub fn short_text_schema() -> Schema {
    schema(text(Text::Line, MAX_SHORT, true))
}

/// `#[schema(schema_with)]` of `deployment_engines`: 1 to [`MAX_LIST`] distinct names.
pub fn engines_schema() -> Schema {
    Schema::Array(
        ArrayBuilder::new()
            .items(text(Text::Line, MAX_SHORT, true))
            .min_items(Some(1))
            .max_items(Some(MAX_LIST))
            .unique_items(true)
            .build(),
    )
}

/// `#[schema(schema_with)]` of a dependency's version requirement.
pub fn version_req_schema() -> Schema {
    schema(
        text(Text::Line, MAX_SHORT, true)
            .examples(["^1.2"])
            .description(Some("Cargo-style version requirement, e.g. `^1.2`.")),
    )
}

/// `#[schema(schema_with)]` of a resource quantity (`500m`, `512Mi`); `null` is no limit.
pub fn quantity_schema() -> Schema {
    schema(text(Text::Line, MAX_QUANTITY, false).schema_type(nullable_type(Type::String, true)))
}

/// `#[schema(schema_with)]` of a definition's labels.
pub fn labels_schema() -> Schema {
    schema(string_map(Text::Line, MAX_LABEL_VALUE, false))
}

/// `#[schema(schema_with)]` of a definition's annotations.
pub fn annotations_schema() -> Schema {
    schema(string_map(Text::Lines, MAX_TEXT, false))
}

/// `#[schema(schema_with)]` of the path of an acknowledged change.
pub fn change_path_schema() -> Schema {
    schema(text(Text::Line, MAX_SHORT, true).examples(["inputs[port].type"]))
}

/// `#[schema(schema_with)]` of the reason of an acknowledged change.
pub fn reason_schema() -> Schema {
    schema(text(Text::Line, MAX_REASON, true))
}

/// `#[schema(schema_with)]` of a deprecation message: required prose.
pub fn message_schema() -> Schema {
    description_schema()
}

/// A list of at most [`MAX_LIST`] entries.
pub fn list_of(items: impl Into<RefOr<Schema>>) -> Schema {
    let items: RefOr<Schema> = items.into();
    Schema::Array(
        ArrayBuilder::new()
            .items(items)
            .max_items(Some(MAX_LIST))
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_are_the_standard_library_s_character_classes() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let in_ws = WHITESPACE.iter().any(|&(lo, hi)| (lo..=hi).contains(&c));
            assert_eq!(in_ws, c.is_whitespace(), "{c:?}");
            let control = UNSAFE[..2].iter().any(|&(lo, hi)| (lo..=hi).contains(&c));
            assert_eq!(control, c.is_control(), "{c:?}");
        }
    }

    #[test]
    fn text_patterns_accept_what_the_checks_accept() {
        let samples = [
            "",
            " ",
            "\t",
            "a",
            " a ",
            "a\nb",
            "a\tb",
            "\r\n",
            "a\u{0}",
            "\u{1b}[31m",
            "a\u{85}",
            "\u{a0}",
            "\u{3000}x",
            "\u{202e}abc",
            "\u{2066}",
            "é",
            "日本",
            "\u{feff}",
            "a\u{9f}",
            "\u{2028}",
        ];
        for kind in [Text::Line, Text::Lines] {
            for non_blank in [false, true] {
                let re = regex::Regex::new(&text_pattern(kind, non_blank)).unwrap();
                for s in samples {
                    let ok = !s.chars().any(|c| unsafe_char(c, kind == Text::Lines))
                        && (!non_blank || !s.trim().is_empty());
                    assert_eq!(re.is_match(s), ok, "{kind:?} {non_blank} {s:?}");
                }
            }
        }
    }

    #[test]
    fn name_and_field_name_patterns_are_the_rules() {
        let name = regex::Regex::new(NAME_PATTERN).unwrap();
        let field = regex::Regex::new(FIELD_NAME_PATTERN).unwrap();
        assert!(NAME_PATTERN.contains(&format!("{{0,{}}}", NAME_MAX - 1)));
        assert!(FIELD_NAME_PATTERN.contains(&format!("{{0,{}}}", FIELD_NAME_MAX - 1)));
        let long = "a".repeat(200);
        for n in 0..=200 {
            for s in [
                &long[..n],
                &format!("a{}", "-".repeat(n)),
                &format!("a{}", "_".repeat(n)),
            ] {
                assert_eq!(
                    name.is_match(s),
                    crate::ComponentName::parse(s).is_ok(),
                    "{s}"
                );
                assert_eq!(field.is_match(s), crate::is_field_name(s), "{s}");
            }
        }
        for s in ["A", "9a", "a.b", "a b", "aé", "ab-", "a_b", "a-b"] {
            assert_eq!(
                name.is_match(s),
                crate::ComponentName::parse(s).is_ok(),
                "{s}"
            );
            assert_eq!(field.is_match(s), crate::is_field_name(s), "{s}");
        }
    }

    #[test]
    fn the_version_pattern_is_the_version_rule() {
        let re = regex::Regex::new(VERSION_PATTERN).unwrap();
        let nineteen = "9".repeat(VERSION_NUMBER_DIGITS);
        let twenty = "1".repeat(VERSION_NUMBER_DIGITS + 1);
        let long_pre = format!("1.0.0-{}", "a".repeat(VERSION_MAX));
        for s in [
            "0.0.0",
            "1.2.3",
            "10.20.30-rc.1",
            "1.0.0-0",
            "1.0.0-alpha-1.x.0",
            "1.0.0-0a",
            "1.0.0--",
            &format!("{nineteen}.0.{nineteen}"),
            &format!("{twenty}.0.0"),
            "",
            "1",
            "1.0",
            "v1.0.0",
            "01.0.0",
            "1.0.0.0",
            " 1.0.0",
            "1.0.0-",
            "1.0.0-01",
            "1.0.0-a..b",
            "1.0.0+b",
            "1.0.0-a+b",
            "1.0.0-é",
            &long_pre,
        ] {
            let schema_ok = re.is_match(s) && s.chars().count() <= VERSION_MAX;
            assert_eq!(schema_ok, crate::parse_version(s).is_ok(), "{s}");
        }
    }
}
