//! The "latest" rule, shared by every backend: the highest version that is neither yanked nor
//! (unless asked for) a pre-release.

use semver::Version;

/// Picks the latest of `versions` (`(version, yanked)` pairs, any order).
///
/// ```
/// use semver::Version;
/// let v = |s| Version::parse(s).unwrap();
/// let all = [(v("1.0.0"), false), (v("2.0.0-rc.1"), false), (v("1.5.0"), true)];
/// assert_eq!(nestor_storage::pick_latest(all.iter().map(|(v, y)| (v, *y)), false), Some(&v("1.0.0")));
/// assert_eq!(nestor_storage::pick_latest(all.iter().map(|(v, y)| (v, *y)), true), Some(&v("2.0.0-rc.1")));
/// ```
pub fn pick_latest<'a>(
    versions: impl IntoIterator<Item = (&'a Version, bool)>,
    include_prerelease: bool,
) -> Option<&'a Version> {
    versions
        .into_iter()
        .filter(|(v, yanked)| !yanked && (include_prerelease || v.pre.is_empty()))
        .map(|(v, _)| v)
        .max()
}

/// Sorts components newest first by semver; unparsable versions (a corrupt store) sort last.
pub fn sort_newest_first(items: &mut [nestor_model::Component]) {
    items.sort_by_cached_key(|c| std::cmp::Reverse(c.semver().ok()));
}
