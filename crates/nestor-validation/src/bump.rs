//! Version arithmetic with Cargo's convention for 0.x: in `0.y.z` the `y` acts as the major
//! version, and in `0.0.z` every release is breaking.

use nestor_model::Bump;
use semver::Version;

/// The compatibility level of a step from `from` to `to` (`to > from`), on release parts only:
/// a pre-release is judged by the release it leads to.
///
/// ```
/// use nestor_model::Bump;
/// use nestor_validation::actual_bump;
/// let v = |s| semver::Version::parse(s).unwrap();
/// assert_eq!(actual_bump(&v("1.2.3"), &v("2.0.0")), Bump::Major);
/// assert_eq!(actual_bump(&v("1.2.3"), &v("1.3.0")), Bump::Minor);
/// assert_eq!(actual_bump(&v("0.2.3"), &v("0.3.0")), Bump::Major); // 0.MINOR acts as major
/// assert_eq!(actual_bump(&v("0.2.3"), &v("0.2.4")), Bump::Minor);
/// assert_eq!(actual_bump(&v("0.0.3"), &v("0.0.4")), Bump::Major); // 0.0.x: every step breaks
/// ```
pub fn actual_bump(from: &Version, to: &Version) -> Bump {
    if from.major != to.major {
        return Bump::Major;
    }
    if from.major == 0 {
        if from.minor != to.minor {
            return Bump::Major;
        }
        if from.patch != to.patch {
            return if from.minor == 0 {
                Bump::Major
            } else {
                Bump::Minor
            };
        }
        return Bump::None;
    }
    if from.minor != to.minor {
        Bump::Minor
    } else if from.patch != to.patch {
        Bump::Patch
    } else {
        Bump::None
    }
}

/// The next release after `from` that makes a step of at least `bump`.
///
/// ```
/// use nestor_model::Bump;
/// use nestor_validation::next_version;
/// let v = |s| semver::Version::parse(s).unwrap();
/// assert_eq!(next_version(&v("1.2.3"), Bump::Major), v("2.0.0"));
/// assert_eq!(next_version(&v("1.2.3"), Bump::Minor), v("1.3.0"));
/// assert_eq!(next_version(&v("0.2.3"), Bump::Major), v("0.3.0"));
/// assert_eq!(next_version(&v("0.2.3"), Bump::Minor), v("0.2.4"));
/// assert_eq!(next_version(&v("0.0.3"), Bump::Minor), v("0.0.4"));
/// ```
pub fn next_version(from: &Version, bump: Bump) -> Version {
    let (ma, mi, pa) = (from.major, from.minor, from.patch);
    match (bump, ma, mi) {
        (Bump::Major, 0, 0) => Version::new(0, 0, pa + 1),
        (Bump::Major, 0, _) => Version::new(0, mi + 1, 0),
        (Bump::Major, _, _) => Version::new(ma + 1, 0, 0),
        (Bump::Minor, 0, _) => Version::new(0, mi, pa + 1),
        (Bump::Minor, _, _) => Version::new(ma, mi + 1, 0),
        (Bump::Patch | Bump::None, _, _) => Version::new(ma, mi, pa + 1),
    }
}
