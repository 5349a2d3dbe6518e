//! The search query language (`q`), parsed once per request.
//!
//! ```text
//! postgres backup        both words, anywhere (every clause must match)
//! "managed postgres"     a phrase: the words next to each other, in one field
//! aws-rds                a word with inner punctuation is the phrase of its parts
//! name:vpc               a clause in one field: name, description, labels (or label),
//!                        provider, category, resource_type
//! postg                  the last bare word also matches as a prefix (as-you-type),
//!                        unless the query ends with a space
//! postgrse               words of 5+ letters also match with one typo
//! ```

use super::text::{FUZZY_MIN_CHARS, Field, tokens};

/// The longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 1024;
/// The most clauses (words, phrases, field clauses) a query may have.
pub const MAX_QUERY_CLAUSES: usize = 16;

/// A query that cannot be run: what is wrong and where (1-based character position).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {position})")]
pub struct QuerySyntaxError {
    /// What is wrong.
    pub message: String,
    /// 1-based character position of the offending part.
    pub position: usize,
}

/// One clause: every clause of a query must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Clause {
    /// Restricted to one field, or any.
    pub(crate) field: Option<Field>,
    /// Its words (more than one: a phrase).
    pub(crate) words: Vec<String>,
    /// Also matches terms that start with the (single) word.
    pub(crate) prefix: bool,
    /// Also matches terms one typo away from the (single) word.
    pub(crate) fuzzy: bool,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextQuery {
    pub(crate) clauses: Vec<Clause>,
    /// The query as given (trimmed).
    pub(crate) text: String,
}

impl TextQuery {
    /// The query as given, trimmed.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Parses a query.
    ///
    /// ```
    /// use nestor_catalog::TextQuery;
    /// assert!(TextQuery::parse("name:vpc \"private subnets\" terraf").is_ok());
    /// let e = TextQuery::parse("\"open phrase").unwrap_err();
    /// assert_eq!(e.position, 1);
    /// let e = TextQuery::parse("colour:red").unwrap_err();
    /// assert_eq!(e.position, 1);
    /// ```
    pub fn parse(q: &str) -> Result<TextQuery, QuerySyntaxError> {
        let len = q.chars().count();
        if len > MAX_QUERY_CHARS {
            return Err(QuerySyntaxError {
                message: format!(
                    "the query is {len} characters; at most {MAX_QUERY_CHARS} are allowed"
                ),
                position: MAX_QUERY_CHARS + 1,
            });
        }
        let chars: Vec<(usize, char)> = q.char_indices().collect();
        let mut clauses = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            if chars[i].1.is_whitespace() {
                i += 1;
                continue;
            }
            let start = i;
            // An optional `field:` before a word or a phrase.
            let mut field = None;
            let mut j = i;
            while j < chars.len() && (chars[j].1.is_ascii_alphanumeric() || chars[j].1 == '_') {
                j += 1;
            }
            if j > i && j < chars.len() && chars[j].1 == ':' {
                let name: String = chars[i..j].iter().map(|(_, c)| c).collect();
                match Field::parse(&name.to_lowercase()) {
                    Some(f) => field = Some(f),
                    None => {
                        return Err(QuerySyntaxError {
                            message: format!(
                                "{name:?} is not a field to search in; use one of name, description, labels, provider, category, resource_type (or put the word in quotes)"
                            ),
                            position: start + 1,
                        });
                    }
                }
                i = j + 1;
            }
            let (raw, quoted, next) = if i < chars.len() && chars[i].1 == '"' {
                let close = chars[i + 1..].iter().position(|(_, c)| *c == '"');
                let Some(close) = close else {
                    return Err(QuerySyntaxError {
                        message: "this quote is never closed".into(),
                        position: i + 1,
                    });
                };
                let text: String = chars[i + 1..i + 1 + close].iter().map(|(_, c)| c).collect();
                (text, true, i + close + 2)
            } else {
                let mut end = i;
                while end < chars.len() && !chars[end].1.is_whitespace() && chars[end].1 != '"' {
                    end += 1;
                }
                let text: String = chars[i..end].iter().map(|(_, c)| c).collect();
                (text, false, end)
            };
            let words: Vec<String> = tokens(&raw).collect();
            i = next;
            if words.is_empty() {
                if field.is_some() || quoted {
                    return Err(QuerySyntaxError {
                        message: "nothing to search for here: add a word".into(),
                        position: start + 1,
                    });
                }
                continue;
            }
            if clauses.len() == MAX_QUERY_CLAUSES {
                return Err(QuerySyntaxError {
                    message: format!(
                        "too many words: a query may have at most {MAX_QUERY_CLAUSES} words or phrases"
                    ),
                    position: start + 1,
                });
            }
            let single = words.len() == 1 && !quoted;
            clauses.push(Clause {
                field,
                fuzzy: single && words[0].chars().count() >= FUZZY_MIN_CHARS,
                prefix: false,
                words,
            });
        }
        let Some(last) = clauses.last_mut() else {
            return Err(QuerySyntaxError {
                message: "the query has no words to search for".into(),
                position: 1,
            });
        };
        // As you type: the last word is probably not finished.
        let ends_open = !q.ends_with(|c: char| c.is_whitespace() || c == '"');
        if ends_open && last.words.len() == 1 {
            last.prefix = true;
        }
        Ok(TextQuery {
            clauses,
            text: q.trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clauses(q: &str) -> Vec<Clause> {
        TextQuery::parse(q).expect("parses").clauses
    }

    #[test]
    fn words_phrases_and_fields() {
        let c = clauses("name:vpc \"Private Subnets\" aws-rds ");
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].field, Some(Field::Name));
        assert_eq!(c[0].words, ["vpc"]);
        assert_eq!(c[1].words, ["private", "subnets"]);
        assert_eq!(c[2].words, ["aws", "rds"]);
        assert!(c.iter().all(|c| !c.prefix), "the query ends with a space");
    }

    #[test]
    fn the_last_bare_word_is_a_prefix_and_long_words_forgive_a_typo() {
        let c = clauses("managed postg");
        assert!(c[1].prefix);
        assert!(c[0].fuzzy, "managed has 7 letters");
        assert!(c[1].fuzzy, "a prefix of 5 letters also forgives a typo");
    }

    #[test]
    fn errors_point_at_the_offending_part() {
        let e = TextQuery::parse("aws \"open").unwrap_err();
        assert_eq!(e.position, 5);
        let e = TextQuery::parse("aws colour:red").unwrap_err();
        assert_eq!(e.position, 5);
        assert!(e.message.contains("colour"));
        let many = vec!["w"; MAX_QUERY_CLAUSES + 1].join(" ");
        let e = TextQuery::parse(&many).unwrap_err();
        assert_eq!(e.position, 2 * MAX_QUERY_CLAUSES + 1);
        let long = "a".repeat(MAX_QUERY_CHARS + 1);
        assert_eq!(
            TextQuery::parse(&long).unwrap_err().position,
            MAX_QUERY_CHARS + 1
        );
        assert_eq!(TextQuery::parse("  !! ").unwrap_err().position, 1);
        assert!(TextQuery::parse("name:").is_err());
    }
}
