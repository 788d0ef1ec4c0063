//! Signed commits written by `git commit-tree -S`, so that kanari signs as `git commit` does.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, anyhow};

use super::process::run_until;
use super::{Deadline, seconds};

/// A commit for [`commit_signed`] to write.
pub(crate) struct ToSign<'a> {
    /// Its tree and parents, in hex.
    pub tree: String,
    pub parents: Vec<String>,
    /// Author and committer: name, email, and the time in seconds since the epoch (UTC).
    pub author: (&'a str, &'a str, i64),
    pub committer: (&'a str, &'a str, i64),
    pub message: &'a str,
}

/// Writes `commit` into the repository at `git_dir`, signed as `git commit` signs it with
/// `commit.gpgsign` on, because it is git that signs: `git commit-tree -S` reads `gpg.format`,
/// `user.signingkey`, `gpg.*.program`, `gpg.ssh.defaultKeyCommand` and the rest, runs the signer
/// and writes the commit with its `gpgsig` header. It runs in `cwd` (the work tree's top, where a
/// relative key path starts) until `deadline` at most: a signer that waits for a passphrase or a
/// touch that never comes is killed then. Returns the new commit's id; nothing is written when
/// the commit cannot be signed, and the error is git's own words.
pub(crate) fn commit_signed(git_dir: &Path, cwd: &Path, commit: &ToSign, deadline: Deadline) -> Result<String> {
    // Without a trailing `/`, so that git names its files as `.git/config`, not `.git//config`.
    let git_dir: PathBuf = git_dir.components().collect();
    let mut cmd = Command::new("git");
    cmd.arg("--git-dir").arg(&git_dir).args(["commit-tree", "-S", &commit.tree]).current_dir(cwd);
    for parent in &commit.parents {
        cmd.args(["-p", parent]);
    }
    for (role, (name, email, seconds)) in [("AUTHOR", commit.author), ("COMMITTER", commit.committer)] {
        cmd.env(format!("GIT_{role}_NAME"), name)
            .env(format!("GIT_{role}_EMAIL"), email)
            .env(format!("GIT_{role}_DATE"), format!("@{seconds} +0000"));
    }
    cmd.env_remove("GIT_WORK_TREE").env_remove("GIT_INDEX_FILE");
    let out = run_until(cmd, Some(commit.message.as_bytes()), deadline.at).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            anyhow!("signing a commit runs the `git` program, which is not installed or not on PATH")
        }
        _ => anyhow!("failed to run `git commit-tree -S` to sign the commit: {e}"),
    })?;
    let Some((status, stdout, stderr)) = out else {
        return Err(SignerHung(format!(
            "`git commit-tree -S` did not sign the commit within the run's --timeout of {}: its signing program waited for something (a passphrase, a touch of a key); nothing was committed",
            seconds(deadline.timeout)
        ))
        .into());
    };
    let id = stdout.trim();
    if !status.success() || id.len() < 40 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(anyhow!("failed to sign the commit (`git commit-tree -S`, {status}): {}", signer_said(&stderr)));
    }
    Ok(id.to_string())
}

/// What git and the signer it ran printed, on one line: GnuPG's machine-readable status lines are
/// left out when anything else was said, and so are git's empty `error:` lines.
fn signer_said(stderr: &str) -> String {
    let lines: Vec<&str> =
        stderr.lines().map(str::trim).filter(|l| !l.is_empty() && !matches!(*l, "error:" | "fatal:")).collect();
    let human: Vec<&str> = lines.iter().copied().filter(|l| !l.starts_with("[GNUPG:] ")).collect();
    match (human.is_empty(), lines.is_empty()) {
        (_, true) => "git printed nothing".to_string(),
        (true, false) => lines.join(" / "),
        (false, false) => human.join(" / "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signer_s_words_are_told_on_one_line_without_status_lines() {
        assert_eq!(
            signer_said(
                "error: gpg failed to sign the data:\n[GNUPG:] INV_SGNR 9 x\ngpg: skipped \"x\": No secret key\n\n"
            ),
            "error: gpg failed to sign the data: / gpg: skipped \"x\": No secret key"
        );
        assert_eq!(
            signer_said("fatal: cannot exec '/x/ssh-keygen': No such file or directory\nerror: \n"),
            "fatal: cannot exec '/x/ssh-keygen': No such file or directory"
        );
        assert_eq!(signer_said("[GNUPG:] FAILURE sign 17\n"), "[GNUPG:] FAILURE sign 17");
        assert_eq!(signer_said(""), "git printed nothing");
    }
}

/// A signer that did not finish within the run's deadline: an outside program that stayed busy
/// (exit 4, as a remote that does not answer), not bad input.
#[derive(Debug)]
pub(crate) struct SignerHung(pub String);

impl std::fmt::Display for SignerHung {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SignerHung {}
