//! Credentials written into a source URL (`https://user:token@host/…`) never leave the process:
//! every URL that is shown — API responses, sync-run errors, logs, the provenance stamped on
//! versions, the state kept in the store — goes through [`redact_url`] first, and error texts
//! through [`redact_urls_in`]. The real URL is used only to talk to the remote.

use std::borrow::Cow;

/// `url` without its secret: for `http(s)://` the whole user-info goes (a token is often the
/// user name); for other schemes (`ssh://git:pw@host`) the password goes and the user, which
/// says which account to use, stays. URLs without user-info come back unchanged.
///
/// ```
/// use nestor_catalog::redact_url;
/// assert_eq!(redact_url("https://x:s3cret@github.com/acme/p.git"), "https://github.com/acme/p.git");
/// assert_eq!(redact_url("ssh://git:pw@host/p"), "ssh://git@host/p");
/// assert_eq!(redact_url("git@github.com:acme/p.git"), "git@github.com:acme/p.git");
/// ```
pub fn redact_url(url: &str) -> Cow<'_, str> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Cow::Borrowed(url);
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return Cow::Borrowed(url);
    };
    let userinfo = &rest[..at];
    let host_and_path = &rest[at + 1..];
    let web = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    match userinfo.split_once(':') {
        _ if web => Cow::Owned(format!("{scheme}://{host_and_path}")),
        Some((user, _)) => Cow::Owned(format!("{scheme}://{user}@{host_and_path}")),
        None => Cow::Borrowed(url),
    }
}

/// `text` with every URL in it passed through [`redact_url`] (error messages of the git
/// library may quote the URL they were given).
pub fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        // The URL starts at the scheme: the letters before `://`.
        let start = rest[..pos]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let end = rest[pos..]
            .find(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '<' | '>' | '`'))
            .map_or(rest.len(), |i| pos + i);
        out.push_str(&rest[..start]);
        out.push_str(&redact_url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_secrets_and_nothing_else() {
        let cases = [
            ("https://token@github.com/a/b", "https://github.com/a/b"),
            (
                "HTTP://u:p@127.0.0.1:8080/x.git",
                "HTTP://127.0.0.1:8080/x.git",
            ),
            ("https://github.com/a/b@c", "https://github.com/a/b@c"),
            ("ssh://git@host:22/p", "ssh://git@host:22/p"),
            ("ssh://git:pw@host/p", "ssh://git@host/p"),
            ("file:///srv/repo", "file:///srv/repo"),
            ("./examples/components", "./examples/components"),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn urls_inside_messages_are_redacted() {
        let text = "fetching 'https://x:s3cret@h/r.git': failed (see https://u:p@h2/y)";
        let clean = redact_urls_in(text);
        assert_eq!(
            clean,
            "fetching 'https://h/r.git': failed (see https://h2/y)"
        );
        assert_eq!(redact_urls_in("no url here"), "no url here");
    }
}
