//! Talking to remotes: fetch and push through the `git` program, as `git fetch` and `git push`
//! would, never through libgit2's transports. The only runner of the `git` program.
//!
//! Why the program: a push must mean what `git push` means on every transport. libgit2's local
//! transport updates the remote ref with force and runs no hooks, so on a local-path or
//! `file://` remote a lost race is silently overwritten; its HTTPS and SSH transports ignore the
//! user's credential helpers, `http.extraheader` (which actions/checkout sets), `~/.ssh/config`
//! and `known_hosts`. The `git` program honours all of them, runs the server's hooks, and its
//! push is a compare-and-swap on the remote ref's old value (`--force-with-lease=REF:OLD`), whose
//! result is read per reference from `--porcelain`.
//!
//! Tokens from the environment (`KANARI_GIT_TOKEN`, `GITHUB_TOKEN`, `GITLAB_TOKEN`) are handed to
//! git through its environment: a credential helper set with `GIT_CONFIG_COUNT`/`KEY`/`VALUE`
//! that prints variables of the child's environment, so the token is never an argument (which
//! `ps` shows) and is asked for only by a server that wants credentials. Everything git prints
//! passes through [`Credentials::redact`] before it is shown.
//!
//! Part of the git layer: [`crate::repo`] runs it for `Repo::fetch` and `Repo::push`. It imports
//! nothing of kanari's, and picks no exit code: a remote that fails is [`RemoteFailed`], which
//! the top level maps.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Result, anyhow};

/// What a push came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// The remote branch now points at the commit.
    Accepted,
    /// The remote moved first (its ref was not at the old value any more): fetch and start again.
    Moved(String),
    /// The server refused the commit (a hook, branch protection): not retried.
    Refused(String),
}

/// The per-reference reasons, as git words them, that mean "the branch moved under you".
const MOVED: [&str; 7] = [
    "stale info",
    "fetch first",
    "non-fast-forward",
    "cannot lock ref",
    "incorrect old value",
    "failed to update ref",
    "is at ",
];

/// How a remote failure reads when the remote asked for credentials that did not work.
const AUTH_FAILED: [&str; 4] =
    ["Authentication failed", "could not read Username", "could not read Password", "terminal prompts disabled"];

/// Credentials for remotes, from the environment. The token never appears in any output.
#[derive(Clone, Default)]
pub struct Credentials {
    token: Option<String>,
    user: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials { .. }")
    }
}

impl Credentials {
    /// `KANARI_GIT_TOKEN`, else `GITHUB_TOKEN`, else `GITLAB_TOKEN`; `KANARI_GIT_USER` names the
    /// user (default `x-access-token`, or `oauth2` with a GitLab token).
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let (token, default_user) = match (var("KANARI_GIT_TOKEN"), var("GITHUB_TOKEN"), var("GITLAB_TOKEN")) {
            (Some(t), _, _) | (None, Some(t), _) => (Some(t), "x-access-token"),
            (None, None, Some(t)) => (Some(t), "oauth2"),
            _ => (None, "x-access-token"),
        };
        Credentials { token, user: var("KANARI_GIT_USER").unwrap_or_else(|| default_user.to_string()) }
    }

    /// `text` with the token replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        match &self.token {
            Some(token) => text.replace(token.as_str(), "***"),
            None => text.to_string(),
        }
    }

    /// Sets up `cmd` so that git answers a server's request for credentials with the token,
    /// through the environment alone. Configuration given in `GIT_CONFIG_*` by the caller's own
    /// environment is kept: ours is added after it.
    fn apply(&self, cmd: &mut Command) {
        let Some(token) = &self.token else { return };
        let count: usize = std::env::var("GIT_CONFIG_COUNT").ok().and_then(|c| c.parse().ok()).unwrap_or(0);
        // A helper whose text holds no secret: it prints two variables of its own environment.
        let helper = "!f() { test \"$1\" = get || exit 0; \
                      printf 'username=%s\\npassword=%s\\n' \"$KANARI_CREDENTIAL_USER\" \"$KANARI_CREDENTIAL_TOKEN\"; }; f";
        cmd.env("GIT_CONFIG_COUNT", (count + 1).to_string())
            .env(format!("GIT_CONFIG_KEY_{count}"), "credential.helper")
            .env(format!("GIT_CONFIG_VALUE_{count}"), helper)
            .env("KANARI_CREDENTIAL_USER", &self.user)
            .env("KANARI_CREDENTIAL_TOKEN", token);
    }
}

/// A remote could not be reached or refused to talk (network, credentials): an outside system
/// failed. The message is git's own words, redacted.
#[derive(Debug)]
pub struct RemoteFailed(pub String);

impl std::fmt::Display for RemoteFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RemoteFailed {}

/// The `git` program, run on one repository.
pub struct GitProgram {
    /// The repository's `.git` folder (a linked work tree's own, which git resolves itself).
    git_dir: PathBuf,
    creds: Credentials,
}

/// What one run of `git` said.
struct Output {
    ok: bool,
    stdout: String,
    /// stderr, redacted.
    stderr: String,
}

impl GitProgram {
    pub fn new(git_dir: &Path, creds: Credentials) -> Self {
        GitProgram { git_dir: git_dir.to_path_buf(), creds }
    }

    fn run(&self, args: &[&str]) -> Result<Output> {
        let mut cmd = Command::new("git");
        cmd.arg("--git-dir").arg(&self.git_dir).args(args);
        // Never wait for a person: a CI job has no one at the terminal.
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        self.creds.apply(&mut cmd);
        let out = cmd.output().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                anyhow!("`--push` runs the `git` program, which is not installed or not on PATH")
            }
            _ => anyhow!("failed to run `git {}`: {e}", args.first().copied().unwrap_or_default()),
        })?;
        Ok(Output {
            ok: out.status.success(),
            stdout: self.creds.redact(&String::from_utf8_lossy(&out.stdout)),
            stderr: self.creds.redact(&String::from_utf8_lossy(&out.stderr)),
        })
    }

    /// Fetches `branch` from `remote` into `refs/remotes/<remote>/<branch>`. Returns false when
    /// the remote has no such branch (the tracking ref is then removed).
    pub fn fetch(&self, remote: &str, branch: &str) -> Result<bool> {
        let tracking = format!("refs/remotes/{remote}/{branch}");
        let refspec = format!("+refs/heads/{branch}:{tracking}");
        let out = self.run(&["fetch", "--quiet", "--no-tags", "--no-recurse-submodules", "--", remote, &refspec])?;
        if out.ok {
            return Ok(true);
        }
        if out.stderr.contains("couldn't find remote ref") {
            let _ = self.run(&["update-ref", "-d", &tracking]);
            return Ok(false);
        }
        Err(RemoteFailed(format!(
            "failed to fetch `{branch}` from `{remote}`: {} ({})",
            said(&out.stderr),
            hint(&out.stderr)
        ))
        .into())
    }

    /// Pushes `commit` to `refs/heads/<branch>` on `remote` if, and only if, the remote branch is
    /// still at `old` (None: it must not exist): a compare-and-swap on the remote ref, whatever
    /// the transport, and never a force.
    pub fn push(&self, remote: &str, branch: &str, commit: &str, old: Option<&str>) -> Result<Pushed> {
        let refname = format!("refs/heads/{branch}");
        let lease = format!("--force-with-lease={refname}:{}", old.unwrap_or(""));
        let refspec = format!("{commit}:{refname}");
        let out = self.run(&["push", "--porcelain", "--no-follow-tags", &lease, "--", remote, &refspec])?;
        let line = porcelain_line(&out.stdout, &refname);
        let remote_said: Vec<&str> = out
            .stderr
            .lines()
            .filter_map(|l| l.strip_prefix("remote:"))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let with_remote = |reason: &str| match remote_said.is_empty() {
            true => reason.to_string(),
            false => format!("{reason}; the remote said: {}", remote_said.join(" / ")),
        };
        match line {
            Some((flag, _)) if out.ok && matches!(flag, ' ' | '*' | '+' | '=') => Ok(Pushed::Accepted),
            Some(('!', summary)) => {
                let text = with_remote(&summary);
                Ok(if MOVED.iter().any(|m| text.contains(m)) { Pushed::Moved(text) } else { Pushed::Refused(text) })
            }
            _ => Err(RemoteFailed(format!(
                "failed to push to `{remote}`: {} ({})",
                said(&out.stderr),
                hint(&out.stderr)
            ))
            .into()),
        }
    }
}

/// The flag and summary of `refname`'s line in `git push --porcelain` output:
/// `<flag>\t<from>:<to>\t<summary>`.
fn porcelain_line(stdout: &str, refname: &str) -> Option<(char, String)> {
    stdout.lines().find_map(|line| {
        let mut fields = line.splitn(3, '\t');
        let flag = fields.next()?.chars().next()?;
        let refs = fields.next()?;
        let summary = fields.next().unwrap_or_default();
        refs.ends_with(&format!(":{refname}")).then(|| (flag, summary.to_string()))
    })
}

/// The gist of what git printed on failure: its `fatal:`/`error:` lines, else the last lines.
fn said(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let errors: Vec<&str> =
        lines.iter().copied().filter(|l| l.starts_with("fatal:") || l.starts_with("error:")).collect();
    let picked = if errors.is_empty() { &lines[lines.len().saturating_sub(3)..] } else { &errors[..] };
    match picked.is_empty() {
        true => "git printed nothing".to_string(),
        false => picked.join(" / "),
    }
}

/// What to do about a failure, when the failure says.
fn hint(stderr: &str) -> &'static str {
    if AUTH_FAILED.iter().any(|a| stderr.contains(a)) {
        "the remote refused the credentials: set KANARI_GIT_TOKEN (HTTPS), configure a credential helper, or use an SSH agent"
    } else {
        "the remote could not be reached or answered an error"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porcelain_lines_are_read_per_reference() {
        let out = "To /tmp/origin.git\n!\tabc:refs/heads/main\t[rejected] (stale info)\nDone\n";
        assert_eq!(porcelain_line(out, "refs/heads/main"), Some(('!', "[rejected] (stale info)".into())));
        assert_eq!(porcelain_line(out, "refs/heads/other"), None);
        let ok = "To /tmp/origin.git\n \tabc:refs/heads/main\t1111..2222\nDone\n";
        assert_eq!(porcelain_line(ok, "refs/heads/main"), Some((' ', "1111..2222".into())));
    }

    #[test]
    fn failures_keep_git_s_own_words() {
        assert_eq!(said("hint: x\nfatal: could not read from remote\n"), "fatal: could not read from remote");
        assert_eq!(said(""), "git printed nothing");
    }

    #[test]
    fn tokens_are_redacted() {
        let creds = Credentials { token: Some("s3cret".into()), user: "u".into() };
        assert_eq!(creds.redact("https://u:s3cret@host"), "https://u:***@host");
    }
}
