//! Talking to remotes: fetch and push through the `git` program, as `git fetch` and `git push`
//! would, never through libgit2's transports; and signed commits, written by `git commit-tree
//! -S` ([`commit_signed`], in `signing`) so that every signing format and setting of `git commit`
//! holds. The only runner of the `git` program; each run is bounded by the run's deadline
//! (`process`).
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
//! git through its environment: a credential helper whose text holds no secret prints variables
//! of the child's environment, so the token is never an argument (which `ps` shows) and is asked
//! for only by a server that wants credentials. The token goes to the remote's own host alone
//! ([`Scope`]): the helper is set for the remote's URL only (`credential.<url>.helper`), after
//! an empty `credential.helper` that empties the list of helpers for the run, so that the user's
//! own (`store`, `cache`, a keychain) neither answer nor save it; it answers only when git asks
//! for the remote's own protocol and host; redirects are followed on the first request alone
//! (`http.followRedirects=initial`); and a plain `http://` remote is refused unless the run
//! allows it (`--allow-insecure-http`). Everything git prints passes through
//! [`Credentials::redact`] before it is shown.
//!
//! Every wait on a remote is bounded. Each run of `git` has the run's deadline ([`Remote`]: the
//! time `--timeout` leaves): it is started as the leader of a process group of its own, and when
//! the deadline passes first the whole group (git, `git-remote-http`, `ssh`) is killed and the
//! leader reaped, within a bounded wait. That is the only bound on `git://`, which has no
//! timeout of its own. Before that, the transports' own timeouts end a stalled transfer early,
//! which matters under a long `--timeout`: over HTTP(S) `http.lowSpeedLimit`/`lowSpeedTime`
//! (unless the user's configuration sets either), and over SSH `ConnectTimeout`,
//! `ServerAliveInterval` and `ServerAliveCountMax` added to the user's own ssh command when that
//! is OpenSSH's `ssh` ([`ssh_command`]).
//!
//! Part of the git layer: [`crate::repo`] runs it for `Repo::fetch`, `Repo::push` and
//! `Repo::build_commit` (a commit to sign). It imports nothing of kanari's, and picks no exit
//! code: a remote that fails or does not answer in time is [`RemoteFailed`], whose kind (an
//! outside system: exit 4) the command layer reads from its type.

mod process;
mod signing;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};

use process::run_until;
pub(crate) use signing::{SignerHung, ToSign, commit_signed};

/// What a push came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
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

/// A transfer over HTTP(S) slower than this many bytes a second for [`LOW_SPEED_SECONDS`] is
/// given up by git itself: a stalled transfer, not a slow one (a server's hooks that think for a
/// while before answering a push stay well inside a minute).
const LOW_SPEED_LIMIT: u32 = 1000;
const LOW_SPEED_SECONDS: u32 = 60;

/// OpenSSH's options for a remote that does not answer: 30 s to connect, then a keepalive every
/// 15 s that ends the session after 4 go unanswered (a minute of silence from a dead peer; a
/// busy server's sshd answers keepalives while its hooks run).
const SSH_OPTIONS: &str = "-o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=4";

/// How a remote failure reads when the remote asked for credentials that did not work.
const AUTH_FAILED: [&str; 4] =
    ["Authentication failed", "could not read Username", "could not read Password", "terminal prompts disabled"];

/// Credentials for remotes, from the environment. The token never appears in any output.
#[derive(Clone, Default)]
pub(crate) struct Credentials {
    token: Option<String>,
    user: String,
    /// Whether the token may be sent to a plain `http://` remote (`--allow-insecure-http`).
    insecure_http: bool,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials { .. }")
    }
}

impl Credentials {
    /// `KANARI_GIT_TOKEN`, else `GITHUB_TOKEN`, else `GITLAB_TOKEN`; `KANARI_GIT_USER` names the
    /// user (default `x-access-token`, or `oauth2` with a GitLab token).
    pub(crate) fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let (token, default_user) = match (var("KANARI_GIT_TOKEN"), var("GITHUB_TOKEN"), var("GITLAB_TOKEN")) {
            (Some(t), _, _) | (None, Some(t), _) => (Some(t), "x-access-token"),
            (None, None, Some(t)) => (Some(t), "oauth2"),
            _ => (None, "x-access-token"),
        };
        Credentials {
            token,
            user: var("KANARI_GIT_USER").unwrap_or_else(|| default_user.to_string()),
            insecure_http: false,
        }
    }

    /// These credentials, allowed (or not) to go to a plain `http://` remote.
    pub(crate) fn allowing_insecure_http(self, allow: bool) -> Self {
        Credentials { insecure_http: allow, ..self }
    }

    /// `text` with the token replaced by `***` and every URL's user and password removed.
    pub(crate) fn redact(&self, text: &str) -> String {
        crate::secret::redact(text, &self.token.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Sets up `cmd` (git's own options, before the subcommand) so that git answers a request
    /// for credentials from `remote`'s own host with the token, and no other; nothing when there
    /// is no token or the remote is not reached over HTTP(S). An error (bad input: nothing has
    /// been sent) when the remote is plain `http://` and that is not allowed.
    fn apply(&self, cmd: &mut Command, remote: &Remote) -> Result<()> {
        let Some(token) = &self.token else { return Ok(()) };
        let Some(scope) = Scope::of(&remote.url) else { return Ok(()) };
        if !scope.https && !self.insecure_http {
            return Err(anyhow!(
                "the remote `{}` ({}) is plain `http://`: kanari sends the git token (KANARI_GIT_TOKEN, GITHUB_TOKEN or GITLAB_TOKEN) only over HTTPS; use an `https://` remote, or pass --allow-insecure-http to send it in clear text",
                remote.name,
                remote.url
            ));
        }
        // A helper whose text holds no secret: it answers `get` for the remote's own protocol and
        // host alone (git writes `protocol=` and `host=` lines on its stdin), with two variables
        // of its own environment.
        let helper = "!f() { test \"$1\" = get || exit 0; p=; h=; \
                      while IFS= read -r l; do case \"$l\" in \
                      \"protocol=$KANARI_CREDENTIAL_PROTOCOL\") p=1 ;; \"host=$KANARI_CREDENTIAL_HOST\") h=1 ;; esac; done; \
                      test \"$p$h\" = 11 || exit 0; \
                      printf 'username=%s\\npassword=%s\\n' \"$KANARI_CREDENTIAL_USER\" \"$KANARI_CREDENTIAL_TOKEN\"; }; f";
        // Given with `-c`, which git reads after every configuration file and after
        // `GIT_CONFIG_COUNT`: the empty `credential.helper` empties the list of helpers gathered
        // so far (the user's `store`, `cache`, keychain), so that they never see the token.
        cmd.arg("-c")
            .arg("credential.helper=")
            .arg("-c")
            .arg(format!("credential.{}.helper={helper}", scope.origin))
            .arg("-c")
            .arg("http.followRedirects=initial")
            .env("KANARI_CREDENTIAL_PROTOCOL", &scope.protocol)
            .env("KANARI_CREDENTIAL_HOST", &scope.host)
            .env("KANARI_CREDENTIAL_USER", &self.user)
            .env("KANARI_CREDENTIAL_TOKEN", token);
        Ok(())
    }
}

/// Where a token may go: an HTTP(S) remote's protocol and host (with its port, as git gives
/// `host=` to a credential helper), and the two as a URL (`https://host:port`), the pattern of
/// `credential.<url>.helper`.
#[derive(Debug, PartialEq, Eq)]
struct Scope {
    protocol: String,
    host: String,
    origin: String,
    https: bool,
}

impl Scope {
    /// The scope of `url`, or None when git does not reach it over HTTP(S) (SSH, `git://`, a
    /// path) or it names no host.
    fn of(url: &str) -> Option<Scope> {
        let (protocol, rest) = url.split_once("://")?;
        let https = match protocol.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        (!host.is_empty()).then(|| Scope {
            protocol: protocol.to_string(),
            host: host.to_string(),
            origin: format!("{protocol}://{host}"),
            https,
        })
    }
}

/// A remote could not be reached or refused to talk (network, credentials): an outside system
/// failed. The message is git's own words, redacted.
#[derive(Debug)]
pub(crate) struct RemoteFailed(pub String);

impl std::fmt::Display for RemoteFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RemoteFailed {}

/// The remote a run fetches from and pushes to, the deadline of every wait on it, and what the
/// user's configuration says that kanari's timeouts must compose with.
#[derive(Clone, Debug)]
pub(crate) struct Remote {
    /// Its name: `origin`.
    pub name: String,
    /// Its URL, for messages, without a user or password.
    pub url: String,
    /// When the run stops waiting for it.
    pub deadline: Deadline,
    /// The user's `core.sshCommand`, if any.
    pub ssh_config: Option<String>,
    /// Whether the user's configuration sets `http.lowSpeedLimit` or `http.lowSpeedTime`.
    pub low_speed_configured: bool,
}

/// How long a run may wait on remotes: until `at`, of a whole allowance of `timeout` (the run's
/// `--timeout`, for messages). Every fetch and push gets the time left, not a fresh allowance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Deadline {
    pub at: Instant,
    pub timeout: Duration,
}

impl Deadline {
    /// `timeout` from now.
    pub(crate) fn after(timeout: Duration) -> Deadline {
        Deadline { at: Instant::now() + timeout, timeout }
    }
}

/// What a run of `git` is doing, for the message when the remote does not answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Doing {
    Fetch,
    Push,
}

/// The `git` program, run on one repository for one remote.
pub(crate) struct GitProgram {
    /// The repository's `.git` folder (a linked work tree's own, which git resolves itself).
    git_dir: PathBuf,
    creds: Credentials,
    remote: Remote,
}

/// What one run of `git` said.
struct Output {
    ok: bool,
    stdout: String,
    /// stderr, redacted.
    stderr: String,
}

impl GitProgram {
    pub(crate) fn new(git_dir: &Path, creds: Credentials, remote: Remote) -> Self {
        GitProgram { git_dir: git_dir.to_path_buf(), creds, remote }
    }

    /// Runs `git args`, and waits for it until the remote's deadline at the latest: then its
    /// process group is killed and the run is a [`RemoteFailed`] that says the remote hung.
    fn run(&self, args: &[&str], doing: Doing) -> Result<Output> {
        let started = Instant::now();
        if started >= self.remote.deadline.at {
            return Err(RemoteFailed(self.hung(doing, None)).into());
        }
        let mut cmd = Command::new("git");
        if !self.remote.low_speed_configured {
            cmd.arg("-c")
                .arg(format!("http.lowSpeedLimit={LOW_SPEED_LIMIT}"))
                .arg("-c")
                .arg(format!("http.lowSpeedTime={LOW_SPEED_SECONDS}"));
        }
        self.creds.apply(&mut cmd, &self.remote)?;
        cmd.arg("--git-dir").arg(&self.git_dir).args(args);
        // Never wait for a person: a CI job has no one at the terminal.
        cmd.env("GIT_TERMINAL_PROMPT", "0").env("LC_ALL", "C").env_remove("GIT_WORK_TREE").env_remove("GIT_INDEX_FILE");
        if let Some(ssh) = ssh_command(self.remote.ssh_config.as_deref()) {
            cmd.env("GIT_SSH_COMMAND", ssh);
        }
        let out = run_until(cmd, None, self.remote.deadline.at).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                anyhow!("`--push` runs the `git` program, which is not installed or not on PATH")
            }
            _ => anyhow!("failed to run `git {}`: {e}", args.first().copied().unwrap_or_default()),
        })?;
        let Some((status, stdout, stderr)) = out else {
            return Err(RemoteFailed(self.hung(doing, Some(started.elapsed()))).into());
        };
        Ok(Output { ok: status.success(), stdout: self.creds.redact(&stdout), stderr: self.creds.redact(&stderr) })
    }

    /// What the run says when the remote did not answer in time (`waited`: how long this run of
    /// git waited; None: the deadline had passed before it started).
    fn hung(&self, doing: Doing, waited: Option<Duration>) -> String {
        let Remote { name, url, deadline, .. } = &self.remote;
        let who = format!("the remote `{name}` ({url})");
        match (doing, waited) {
            (_, None) => format!(
                "the run's --timeout of {} ran out before kanari could ask {who}; nothing was committed",
                seconds(deadline.timeout)
            ),
            (Doing::Fetch, Some(waited)) => {
                format!("{who} did not answer within {}; nothing was committed", seconds(waited))
            }
            (Doing::Push, Some(waited)) => format!(
                "{who} did not answer the push within {}; nothing was committed locally, and whether `{name}` took the push is unknown: the next run with --push starts from what it holds",
                seconds(waited)
            ),
        }
    }

    /// Fetches `branch` from `remote` into `refs/remotes/<remote>/<branch>`. Returns false when
    /// the remote has no such branch (the tracking ref is then removed).
    pub(crate) fn fetch(&self, branch: &str) -> Result<bool> {
        let remote = self.remote.name.as_str();
        let tracking = format!("refs/remotes/{remote}/{branch}");
        let refspec = format!("+refs/heads/{branch}:{tracking}");
        let out = self
            .run(&["fetch", "--quiet", "--no-tags", "--no-recurse-submodules", "--", remote, &refspec], Doing::Fetch)?;
        if out.ok {
            return Ok(true);
        }
        if out.stderr.contains("couldn't find remote ref") {
            let _ = self.run(&["update-ref", "-d", &tracking], Doing::Fetch);
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
    pub(crate) fn push(&self, branch: &str, commit: &str, old: Option<&str>) -> Result<Pushed> {
        let remote = self.remote.name.as_str();
        let refname = format!("refs/heads/{branch}");
        let lease = format!("--force-with-lease={refname}:{}", old.unwrap_or(""));
        let refspec = format!("{commit}:{refname}");
        let out =
            self.run(&["push", "--porcelain", "--no-follow-tags", &lease, "--", remote, &refspec], Doing::Push)?;
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

/// The ssh command git is to run: the user's own (`GIT_SSH_COMMAND`, else `core.sshCommand`,
/// else the program `GIT_SSH`, in git's order), else `ssh`, with [`SSH_OPTIONS`] after it when
/// it is OpenSSH's `ssh`. ssh takes the first value it is given of an option, so the user's own
/// `-o ConnectTimeout=...` wins over kanari's, and kanari's over `~/.ssh/config`. Another program
/// (PuTTY's `plink`, a wrapper script) would not read OpenSSH's options: it is left as the user
/// set it (None), and the deadline alone bounds it.
fn ssh_command(configured: Option<&str>) -> Option<String> {
    let var = |k: &str| std::env::var(k).ok();
    compose_ssh(var("GIT_SSH_COMMAND"), configured.map(str::to_string), var("GIT_SSH"))
}

/// [`ssh_command`] from `GIT_SSH_COMMAND`, `core.sshCommand` and `GIT_SSH`.
fn compose_ssh(command: Option<String>, configured: Option<String>, program: Option<String>) -> Option<String> {
    let set = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    let user = match (set(command).or(set(configured)), set(program)) {
        (Some(command), _) => command,
        // A path git runs as it is, not through the shell: taken as a command only when it
        // needs no quoting.
        (None, Some(path)) if !path.contains(|c: char| c.is_whitespace() || "'\"\\$`;&|<>()*?".contains(c)) => path,
        (None, Some(_)) => return None,
        (None, None) => return Some(format!("ssh {SSH_OPTIONS}")),
    };
    let first = user.split_whitespace().next()?;
    let name = Path::new(first).file_name()?.to_str()?;
    matches!(name, "ssh" | "ssh.exe").then(|| format!("{user} {SSH_OPTIONS}"))
}

/// A duration as messages give it: `3s`, `2.5s`, `90s`.
fn seconds(d: Duration) -> String {
    let tenths = (d.as_millis() + 50) / 100;
    match tenths.is_multiple_of(10) || tenths >= 100 {
        true => format!("{}s", (tenths + 5) / 10),
        false => format!("{}.{}s", tenths / 10, tenths % 10),
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
    fn ssh_gets_timeouts_after_the_user_s_own_options_and_other_programs_are_left_alone() {
        let s = |v: &str| Some(v.to_string());
        let with = |cmd: &str| Some(format!("{cmd} {SSH_OPTIONS}"));
        assert_eq!(compose_ssh(None, None, None), with("ssh"));
        assert_eq!(
            compose_ssh(s("ssh -i key -o ConnectTimeout=5"), s("ssh -F x"), None),
            with("ssh -i key -o ConnectTimeout=5")
        );
        assert_eq!(compose_ssh(None, s("/usr/bin/ssh -F cfg"), s("plink")), with("/usr/bin/ssh -F cfg"));
        assert_eq!(compose_ssh(s(" "), None, s("/opt/bin/ssh")), with("/opt/bin/ssh"));
        assert_eq!(compose_ssh(None, None, s("/opt/my tools/ssh")), None);
        assert_eq!(compose_ssh(s("plink -batch"), None, None), None);
        assert_eq!(compose_ssh(None, s("./wrap-ssh.sh"), None), None);
    }

    #[test]
    fn a_run_past_its_deadline_asks_no_remote() {
        let deadline = Deadline { at: Instant::now(), timeout: Duration::from_secs(3) };
        let remote = Remote {
            name: "origin".into(),
            url: "git://127.0.0.1:9/x".into(),
            deadline,
            ssh_config: None,
            low_speed_configured: false,
        };
        let git = GitProgram::new(Path::new("/nonexistent/.git"), Credentials::default(), remote);
        let err = git.fetch("main").unwrap_err();
        assert!(err.is::<RemoteFailed>(), "{err:#}");
        assert_eq!(
            err.to_string(),
            "the run's --timeout of 3s ran out before kanari could ask the remote `origin` (git://127.0.0.1:9/x); nothing was committed"
        );
    }

    #[test]
    fn waits_read_in_seconds() {
        assert_eq!(seconds(Duration::from_millis(2980)), "3s");
        assert_eq!(seconds(Duration::from_millis(1520)), "1.5s");
        assert_eq!(seconds(Duration::from_secs(120)), "120s");
        assert_eq!(seconds(Duration::from_millis(90_400)), "90s");
    }

    #[test]
    fn a_token_is_scoped_to_the_remote_s_own_protocol_and_host() {
        let scope = |protocol: &str, host: &str, https| Scope {
            protocol: protocol.into(),
            host: host.into(),
            origin: format!("{protocol}://{host}"),
            https,
        };
        assert_eq!(Scope::of("https://github.com/org/x.git"), Some(scope("https", "github.com", true)));
        assert_eq!(Scope::of("https://u@git.example.com:8443/x"), Some(scope("https", "git.example.com:8443", true)));
        assert_eq!(Scope::of("http://127.0.0.1:9/x.git"), Some(scope("http", "127.0.0.1:9", false)));
        assert_eq!(Scope::of("HTTPS://[::1]:8443?x"), Some(scope("HTTPS", "[::1]:8443", true)));
        for url in [
            "git@github.com:org/x.git",
            "ssh://git@host/x",
            "git://127.0.0.1/x",
            "/srv/x.git",
            "file:///x",
            "https:///x",
        ] {
            assert_eq!(Scope::of(url), None, "{url}");
        }
    }

    #[test]
    fn tokens_are_redacted() {
        let creds = Credentials { token: Some("s3cret".into()), user: "u".into(), insecure_http: false };
        assert_eq!(creds.redact("https://u:s3cret@host"), "https://host");
        assert_eq!(creds.redact("token s3cret"), "token ***");
    }
}
