//! Signed commits: with `commit.gpgsign`, kanari's commits carry the signature `git commit`
//! would make (SSH from a key file or from the agent, OpenPGP from a GnuPG home), checked with
//! the real `git verify-commit` and `git log --show-signature`, and taken by a server (`git
//! daemon` on 127.0.0.1) that requires signed commits; a commit that cannot be signed is an
//! error in git's own words, which name the program or the key, with nothing committed; a signer
//! that never finishes is stopped at the run's `--timeout`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::servers::Daemon;
use crate::{fixture_repo, git, kanari_env};

const WHO: &str = "CI <ci@example.com>";

fn promote(repo: &Path, args: &[&str], env: &[(&str, &str)]) -> crate::Run {
    let mut all = vec!["-C", repo.to_str().unwrap()];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--author", WHO]);
    kanari_env(repo, &all, env)
}

/// The real `git` with the same scrubbed environment as [`git`], plus `env`; its output and
/// whether it succeeded.
fn git_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(crate::tool("git"));
    cmd.args(args).current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("GIT_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", "/nonexistent/kanari-test-home")
        .envs(env.iter().copied());
    let out = cmd.output().expect("git runs");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// An ed25519 key made by `ssh-keygen` without a passphrase: (private key path, public key line).
fn ssh_key(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("id_ed25519");
    let out = Command::new(crate::tool("ssh-keygen"))
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "ci@example.com", "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen runs");
    assert!(out.status.success(), "ssh-keygen failed: {}", String::from_utf8_lossy(&out.stderr));
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap().trim().to_string();
    (key, public)
}

/// Signing with SSH set up in `repo`'s own configuration, and the allowed-signers file that
/// lets `git` verify signatures of `public`.
fn ssh_signing(repo: &Path, keys: &Path, key: &str, public: &str) {
    let allowed = keys.join("allowed_signers");
    std::fs::write(&allowed, format!("ci@example.com namespaces=\"git\" {public}\n")).unwrap();
    git(repo, &["config", "gpg.format", "ssh"]);
    git(repo, &["config", "user.signingkey", key]);
    git(repo, &["config", "commit.gpgsign", "true"]);
    git(repo, &["config", "gpg.ssh.allowedSignersFile", allowed.to_str().unwrap()]);
}

/// HEAD is signed by the allowed SSH key: `git verify-commit` passes and `git log
/// --show-signature` says so.
fn assert_ssh_signed(repo: &Path) {
    let raw = git(repo, &["cat-file", "commit", "HEAD"]);
    assert!(raw.contains("\ngpgsig -----BEGIN SSH SIGNATURE-----\n "), "{raw}");
    git(repo, &["verify-commit", "HEAD"]);
    let shown = git(repo, &["log", "-1", "--show-signature", "--format=%s"]);
    assert!(shown.contains("Good \"git\" signature for ci@example.com with ED25519 key"), "{shown}");
    git(repo, &["fsck", "--strict", "--no-progress"]);
}

fn tip(repo: &Path) -> String {
    git(repo, &["rev-parse", "main"]).trim().to_string()
}

#[test]
fn promote_and_abort_sign_their_commits_with_an_ssh_key_file() {
    let repo = fixture_repo("bookinfo");
    let r = repo.path();
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = ssh_key(keys.path());
    ssh_signing(r, keys.path(), key.to_str().unwrap(), &public);

    for (args, subject) in [
        (&["promote"][..], "reviews: promote (new) -> steady"),
        (&["promote"][..], "reviews: promote steady -> prepare"),
        (&["abort", "--reason", "5xx"][..], "reviews: abort prepare"),
    ] {
        let out = promote(r, args, &[]);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        assert_eq!(git(r, &["log", "-1", "--format=%s"]).trim(), subject);
        assert_ssh_signed(r);
    }
    assert_eq!(git(r, &["status", "--porcelain"]), "");
    // The signature is over the commit as written: a byte changed in it no longer verifies.
    let raw = git(r, &["cat-file", "commit", "HEAD"]).replace("abort prepare", "abort prepaRe");
    let forged = keys.path().join("forged");
    std::fs::write(&forged, raw).unwrap();
    let oid = git(r, &["hash-object", "-t", "commit", "-w", forged.to_str().unwrap()]);
    let (ok, said) = git_env(r, &["verify-commit", oid.trim()], &[]);
    assert!(!ok, "a forged commit verified: {said}");
}

#[test]
fn a_key_in_the_ssh_agent_signs_as_a_written_out_key_or_from_the_key_command() {
    let repo = fixture_repo("bookinfo");
    let r = repo.path();
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = ssh_key(keys.path());
    let agent = Agent::start(keys.path());
    let sock = agent.socket.to_str().unwrap();
    let added = Command::new(crate::tool("ssh-add")).arg("-q").arg(&key).env("SSH_AUTH_SOCK", sock).output().unwrap();
    assert!(added.status.success(), "ssh-add failed: {}", String::from_utf8_lossy(&added.stderr));
    // Only the agent holds the private key now.
    std::fs::remove_file(&key).unwrap();

    ssh_signing(r, keys.path(), &format!("key::{public}"), &public);
    let out = promote(r, &["promote"], &[("SSH_AUTH_SOCK", sock)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_ssh_signed(r);

    git(r, &["config", "--unset", "user.signingkey"]);
    git(r, &["config", "gpg.ssh.defaultKeyCommand", "ssh-add -L"]);
    let out = promote(r, &["promote"], &[("SSH_AUTH_SOCK", sock)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(git(r, &["log", "-1", "--format=%s"]).trim(), "reviews: promote steady -> prepare");
    assert_ssh_signed(r);
}

#[test]
fn a_commit_that_cannot_be_signed_is_an_error_that_names_the_program_and_commits_nothing() {
    let keys = tempfile::tempdir().unwrap();
    let missing = keys.path().join("no-such-key");
    let missing = missing.to_str().unwrap();
    /// Configuration set in the repository, and what the error must say.
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: [Case; 6] = [
        (
            &[("gpg.format", "ssh"), ("user.signingkey", missing)],
            &[
                "failed to sign the commit (`git commit-tree -S`",
                "Couldn't load public key",
                missing,
                "No such file or directory",
            ],
        ),
        (
            &[("gpg.format", "ssh"), ("user.signingkey", missing), ("gpg.ssh.program", "/nonexistent/ssh-keygen")],
            &["failed to sign the commit", "cannot exec '/nonexistent/ssh-keygen'"],
        ),
        (&[("gpg.program", "/nonexistent/gpg")], &["failed to sign the commit", "cannot exec '/nonexistent/gpg'"]),
        (
            &[("gpg.format", "pgp")],
            &[
                "invalid value for 'gpg.format': 'pgp'",
                "bad config variable 'gpg.format' in file '",
                "/.git/config' at line",
            ],
        ),
        (&[("commit.gpgsign", "maybe")], &["`commit.gpgsign` is `maybe` in the repository's Git configuration"]),
        (&[("gpg.format", "ssh")], &["either user.signingkey or gpg.ssh.defaultKeyCommand needs to be configured"]),
    ];
    for (config, expected) in cases {
        let repo = fixture_repo("bookinfo");
        let r = repo.path();
        git(r, &["config", "commit.gpgsign", "true"]);
        for (key, value) in config {
            git(r, &["config", key, value]);
        }
        let before = tip(r);
        let out = promote(r, &["promote"], &[]);
        assert_eq!(out.code, 2, "{config:?}: {}{}", out.stdout, out.stderr);
        for text in expected {
            assert!(out.stderr.contains(text), "{config:?}: expected {text:?} in:\n{}", out.stderr);
        }
        assert_eq!(out.stderr.lines().count(), 1, "{config:?}: one error line:\n{}", out.stderr);
        assert_eq!(tip(r), before, "{config:?}: the branch moved");
        assert_eq!(git(r, &["rev-list", "--all"]).trim(), before, "{config:?}");
        let unreachable = git(r, &["fsck", "--unreachable", "--no-reflogs", "--no-progress"]);
        assert!(!unreachable.contains("commit"), "{config:?}: a commit was written:\n{unreachable}");
        assert_eq!(git(r, &["status", "--porcelain"]), "", "{config:?}");
        assert!(!r.join("overlays").exists(), "{config:?}: the overlay was written");
    }
}

/// A signer that never finishes (a passphrase prompt, a hardware key waiting for a touch) holds
/// the run no longer than `--timeout`: its whole process group is stopped, and nothing is
/// committed.
#[test]
fn a_signer_that_never_finishes_is_stopped_at_the_runs_timeout() {
    let repo = fixture_repo("bookinfo");
    let r = repo.path();
    let bin = tempfile::tempdir().unwrap();
    let signer = bin.path().join("stuck-gpg");
    let pid_file = bin.path().join("sleeper.pid");
    std::fs::write(&signer, format!("#!/bin/sh\nsleep 120 &\necho $! > '{}'\nwait\n", pid_file.display())).unwrap();
    std::fs::set_permissions(&signer, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    git(r, &["config", "commit.gpgsign", "true"]);
    git(r, &["config", "gpg.program", signer.to_str().unwrap()]);
    let before = tip(r);
    let started = Instant::now();
    let out = promote(r, &["promote", "--timeout", "2s"], &[]);
    let took = started.elapsed();
    assert_eq!(out.code, 4, "{}{}", out.stdout, out.stderr);
    assert!(took < Duration::from_secs(30), "the run waited {took:?} for the signer");
    assert!(
        out.stderr.contains("`git commit-tree -S` did not sign the commit within the run's --timeout of 2s"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "one error line:\n{}", out.stderr);
    assert_eq!(tip(r), before, "the branch moved");
    assert_eq!(git(r, &["status", "--porcelain"]), "");
    // The signer's own child went with it: the whole process group was stopped.
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let gone = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{}", pid.trim())).exists() && Instant::now() < gone {
        std::thread::sleep(Duration::from_millis(20));
    }
    let state = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    assert!(state.is_empty() || state.contains(") Z "), "the signer's child still runs: {state}");
}

#[test]
fn without_commit_gpgsign_commits_are_not_signed() {
    let repo = fixture_repo("bookinfo");
    let r = repo.path();
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = ssh_key(keys.path());
    ssh_signing(r, keys.path(), key.to_str().unwrap(), &public);
    for setting in [None, Some("false")] {
        match setting {
            None => git(r, &["config", "--unset", "commit.gpgsign"]),
            Some(value) => git(r, &["config", "commit.gpgsign", value]),
        };
        let out = promote(r, &["promote"], &[]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let raw = git(r, &["cat-file", "commit", "HEAD"]);
        assert!(raw.contains("Kanari-Stage") && !raw.contains("gpgsig"), "commit.gpgsign {setting:?}:\n{raw}");
    }
}

#[test]
fn openpgp_signs_with_the_committers_key_by_default_and_a_missing_key_is_refused() {
    let repo = fixture_repo("bookinfo");
    let r = repo.path();
    let gnupg = GnupgHome::new();
    let home = gnupg.dir.path().to_str().unwrap();
    let env = [("GNUPGHOME", home)];
    git(r, &["config", "commit.gpgsign", "true"]);

    let out = promote(r, &["promote"], &env);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let raw = git(r, &["cat-file", "commit", "HEAD"]);
    assert!(raw.contains("\ngpgsig -----BEGIN PGP SIGNATURE-----\n \n "), "{raw}");
    let (ok, said) = git_env(r, &["verify-commit", "HEAD"], &env);
    assert!(ok, "git verify-commit failed:\n{said}");
    let (ok, shown) = git_env(r, &["log", "-1", "--show-signature", "--format=%s"], &env);
    assert!(ok && shown.contains("Good signature from \"CI <ci@example.com>\""), "{shown}");

    git(r, &["config", "user.signingkey", "nobody@example.com"]);
    let before = tip(r);
    let out = promote(r, &["promote"], &env);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("gpg failed to sign the data"), "{}", out.stderr);
    assert!(out.stderr.contains("skipped \"nobody@example.com\": No secret key"), "gpg's own words:\n{}", out.stderr);
    assert!(!out.stderr.contains("[GNUPG:]"), "GnuPG's status lines are left out:\n{}", out.stderr);
    assert_eq!(tip(r), before, "the branch moved");
    assert_eq!(git(r, &["status", "--porcelain"]), "");
}

#[test]
fn a_server_that_requires_signed_commits_refuses_unsigned_promotes_and_takes_signed_ones() {
    let server = tempfile::tempdir().unwrap();
    let origin = server.path().join("origin.git");
    git(server.path(), &["init", "-q", "--bare", "-b", "main", "origin.git"]);
    let seed = fixture_repo("bookinfo");
    git(seed.path(), &["push", "-q", origin.to_str().unwrap(), "main"]);
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = ssh_key(keys.path());
    let allowed = keys.path().join("allowed_signers");
    std::fs::write(&allowed, format!("ci@example.com namespaces=\"git\" {public}\n")).unwrap();
    git(&origin, &["config", "gpg.ssh.allowedSignersFile", allowed.to_str().unwrap()]);
    // "Require signed commits", as a server hook: every new commit must verify.
    let hook = origin.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\nwhile read old new ref; do\n  for c in $(git rev-list \"$new\" --not --all); do\n    \
         git verify-commit \"$c\" >/dev/null 2>&1 || { echo \"$ref requires signed commits\" >&2; exit 1; }\n  \
         done\ndone\n",
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let daemon = Daemon::serve(server.path());
    let clones = tempfile::tempdir().unwrap();
    git(clones.path(), &["clone", "-q", &daemon.url("origin.git"), "clone"]);
    let clone = clones.path().join("clone");
    let remote_tip = || git(&origin, &["rev-parse", "main"]).trim().to_string();
    let before = remote_tip();

    let out = promote(&clone, &["promote", "--push"], &[]);
    assert_eq!(out.code, 4, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("refs/heads/main requires signed commits"), "{}", out.stderr);
    assert_eq!(remote_tip(), before, "the server took an unsigned commit");

    ssh_signing(&clone, keys.path(), key.to_str().unwrap(), &public);
    let out = promote(&clone, &["promote", "--push"], &[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(git(&origin, &["log", "-1", "--format=%s", "main"]).trim(), "reviews: promote (new) -> steady");
    git(&origin, &["verify-commit", "main"]);
}

/// An `ssh-agent` in the foreground on a socket in `dir`, stopped when dropped.
struct Agent {
    child: Child,
    socket: PathBuf,
}

impl Agent {
    fn start(dir: &Path) -> Agent {
        let socket = dir.join("agent.sock");
        let child = Command::new(crate::tool("ssh-agent"))
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent runs");
        let agent = Agent { child, socket };
        let start = Instant::now();
        while !agent.socket.exists() {
            assert!(start.elapsed() < Duration::from_secs(10), "ssh-agent made no socket");
            std::thread::sleep(Duration::from_millis(20));
        }
        agent
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GnuPG home with an ed25519 signing key for `CI <ci@example.com>` and no passphrase; its
/// agent is stopped when dropped.
struct GnupgHome {
    dir: tempfile::TempDir,
}

impl GnupgHome {
    fn new() -> GnupgHome {
        let dir = tempfile::tempdir().unwrap();
        let home = GnupgHome { dir };
        let out = Command::new(crate::tool("gpg"))
            .args(["--batch", "--passphrase", "", "--quick-gen-key", WHO, "ed25519", "sign", "never"])
            .env("GNUPGHOME", home.dir.path())
            .output()
            .expect("gpg runs");
        assert!(out.status.success(), "gpg could not make a key: {}", String::from_utf8_lossy(&out.stderr));
        home
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        let _ = Command::new(crate::tool("gpgconf")).args(["--kill", "all"]).env("GNUPGHOME", self.dir.path()).output();
    }
}
