//! Strict SemVer 2.0 versions. Build metadata is rejected because it does not take part in
//! ordering: `1.0.0+a` and `1.0.0+b` would be two versions that sort as one.

use semver::Version;

/// Why a string is not an acceptable component version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Not SemVer 2.0 at all.
    #[error("{input:?} is not a SemVer 2.0 version (MAJOR.MINOR.PATCH[-PRERELEASE]): {reason}")]
    Syntax {
        /// What was given.
        input: String,
        /// What the semver parser said.
        reason: String,
    },
    /// Longer than [`crate::limits::VERSION_MAX`] characters.
    #[error("the version is {len} characters; at most {max} are allowed", max = crate::limits::VERSION_MAX)]
    TooLong {
        /// Its length in characters.
        len: usize,
    },
    /// SemVer, but with build metadata.
    #[error(
        "{input:?} has build metadata (+{build}); build metadata does not order versions and is not allowed"
    )]
    BuildMetadata {
        /// What was given.
        input: String,
        /// The build metadata part.
        build: String,
    },
}

/// Parses a strict SemVer 2.0 version without build metadata.
///
/// ```
/// assert!(nestor_model::parse_version("1.2.3-beta.1").is_ok());
/// assert!(nestor_model::parse_version("1.2").is_err());
/// assert!(nestor_model::parse_version("1.2.3+build.5").is_err());
/// ```
pub fn parse_version(s: &str) -> Result<Version, VersionError> {
    let len = crate::limits::char_len(s);
    if len > crate::limits::VERSION_MAX {
        return Err(VersionError::TooLong { len });
    }
    let v = Version::parse(s).map_err(|e| VersionError::Syntax {
        input: s.to_owned(),
        reason: e.to_string(),
    })?;
    // 19 digits always fit in 64 bits; the schema's pattern says the same.
    let digits = crate::limits::VERSION_NUMBER_DIGITS;
    if [v.major, v.minor, v.patch]
        .iter()
        .any(|n| n.to_string().len() > digits)
    {
        return Err(VersionError::Syntax {
            input: s.to_owned(),
            reason: format!("major, minor and patch have at most {digits} digits"),
        });
    }
    if !v.build.is_empty() {
        return Err(VersionError::BuildMetadata {
            input: s.to_owned(),
            build: v.build.to_string(),
        });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictness() {
        assert!(parse_version("0.0.1").is_ok());
        assert!(parse_version("10.20.30-rc.1").is_ok());
        for bad in ["", "1", "1.0", "v1.0.0", "01.0.0", "1.0.0.0", " 1.0.0"] {
            assert!(
                matches!(parse_version(bad), Err(VersionError::Syntax { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_version("1.0.0+sha.abc"),
            Err(VersionError::BuildMetadata { .. })
        ));
    }
}
