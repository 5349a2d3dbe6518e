//! Component names: `^[a-z][a-z0-9-]{0,62}$`, one global namespace.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid component name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty.
    #[error("name is empty")]
    Empty,
    /// The name is longer than 63 characters.
    #[error("name is {0} characters long; at most 63 are allowed")]
    TooLong(usize),
    /// The name does not start with a lowercase ASCII letter.
    #[error("name must start with a lowercase letter (a-z)")]
    BadStart,
    /// The name contains a character other than `a-z`, `0-9` and `-`.
    #[error("name contains {0:?}; only lowercase letters, digits and '-' are allowed")]
    BadChar(char),
}

/// A validated component name.
///
/// ```
/// use nestor_model::ComponentName;
/// assert!(ComponentName::parse("aws-rds-postgres").is_ok());
/// assert!(ComponentName::parse("AWS-RDS").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ComponentName(String);

impl ComponentName {
    /// Checks `s` against the name rule and wraps it.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        validate_name(s)?;
        Ok(Self(s.to_owned()))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a component name without allocating.
///
/// ```
/// assert!(nestor_model::ComponentName::parse("k8s-redis").is_ok());
/// assert!(nestor_model::ComponentName::parse("9lives").is_err());
/// ```
pub(crate) fn validate_name(s: &str) -> Result<(), NameError> {
    let mut chars = s.chars();
    let first = chars.next().ok_or(NameError::Empty)?;
    if !first.is_ascii_lowercase() {
        return Err(NameError::BadStart);
    }
    if let Some(bad) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(NameError::BadChar(bad));
    }
    if s.len() > crate::limits::NAME_MAX {
        return Err(NameError::TooLong(s.len()));
    }
    Ok(())
}

/// Whether `name` is a valid input or output name ([`crate::limits::FIELD_NAME_PATTERN`]).
///
/// ```
/// assert!(nestor_model::is_field_name("instance_class"));
/// assert!(!nestor_model::is_field_name("instance-class"));
/// ```
pub fn is_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= crate::limits::FIELD_NAME_MAX
}

impl TryFrom<String> for ComponentName {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        validate_name(&s)?;
        Ok(Self(s))
    }
}

impl From<ComponentName> for String {
    fn from(n: ComponentName) -> Self {
        n.0
    }
}

impl fmt::Display for ComponentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ComponentName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_names() {
        for n in ["a", "aws-vpc", "k8s-redis-2", &"a".repeat(63)] {
            assert!(ComponentName::parse(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn rejects_invalid_names_with_a_reason() {
        assert_eq!(ComponentName::parse(""), Err(NameError::Empty));
        assert_eq!(ComponentName::parse("Aws"), Err(NameError::BadStart));
        assert_eq!(ComponentName::parse("-a"), Err(NameError::BadStart));
        assert_eq!(
            ComponentName::parse("aws_vpc"),
            Err(NameError::BadChar('_'))
        );
        assert_eq!(ComponentName::parse("awS"), Err(NameError::BadChar('S')));
        assert_eq!(
            ComponentName::parse(&"a".repeat(64)),
            Err(NameError::TooLong(64))
        );
    }
}
