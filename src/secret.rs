//! Secrets kept out of everything kanari prints: a URL's user and password, and the values of
//! the tokens and headers it was given. Every URL and every outside text (a server's error body,
//! git's own words) passes through [`redact`] before it is shown; `describe`, where errors are
//! printed, scrubs once more with the tokens of the environment ([`from_env`]).

/// The environment variables whose values are secrets: never printed, whatever prints them.
pub(crate) const TOKENS: [&str; 4] = ["KANARI_PROMETHEUS_TOKEN", "KANARI_GIT_TOKEN", "GITHUB_TOKEN", "GITLAB_TOKEN"];

/// What a secret is shown as.
pub(crate) const HIDDEN: &str = "***";

/// A URL as messages show it: without a user or password (`https://u:p@host/x` →
/// `https://host/x`); an scp-like `git@host:x` keeps its user, which is no secret.
pub(crate) fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// `text` with the user and password of every URL in it removed, and each of `secrets` (of
/// four characters or more: a shorter value would blank out ordinary words) replaced by `***`.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        // The authority ends where a path, a query, a quote or a space starts.
        let end = after.find(|c: char| "/?#\"'`<>()[]{},;".contains(c) || c.is_whitespace()).unwrap_or(after.len());
        match after[..end].rfind('@') {
            Some(user) => rest = &after[user + 1..],
            None => rest = after,
        }
    }
    out.push_str(rest);
    let mut secrets: Vec<&str> = secrets.iter().copied().filter(|s| s.chars().count() >= 4).collect();
    // The longest first, so that a secret holding another is hidden whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in secrets {
        out = out.replace(secret, HIDDEN);
    }
    out
}

/// The values of [`TOKENS`] set in the environment.
pub(crate) fn from_env() -> Vec<String> {
    TOKENS.iter().filter_map(|k| std::env::var(k).ok()).filter(|v| !v.trim().is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_messages_carry_no_password() {
        assert_eq!(without_userinfo("https://u:s3cret@host/x.git"), "https://host/x.git");
        assert_eq!(without_userinfo("http://admin:p@ss@host:9090"), "http://host:9090");
        assert_eq!(without_userinfo("http://host:9090/a@b"), "http://host:9090/a@b");
        assert_eq!(without_userinfo("git://127.0.0.1:9418/x"), "git://127.0.0.1:9418/x");
        assert_eq!(without_userinfo("git@github.com:org/x.git"), "git@github.com:org/x.git");
        assert_eq!(without_userinfo("/srv/git/x.git"), "/srv/git/x.git");
    }

    #[test]
    fn every_url_in_a_text_loses_its_password_and_every_secret_is_hidden() {
        let text = "fatal: unable to access 'https://x-access-token:ghp_abc@github.com/o/r.git/': 403\n\
                    Prometheus at http://admin:PW@127.0.0.1:9090 answered: Authorization: Bearer tok-123";
        let got = redact(text, &["tok-123", "ab"]);
        assert_eq!(
            got,
            "fatal: unable to access 'https://github.com/o/r.git/': 403\n\
             Prometheus at http://127.0.0.1:9090 answered: Authorization: Bearer ***"
        );
        assert_eq!(
            redact("see http://host/a@b and git@github.com:o/r", &[]),
            "see http://host/a@b and git@github.com:o/r"
        );
        assert_eq!(redact("a secret-longer and secret", &["secret", "secret-longer"]), "a *** and ***");
    }
}
