//! Signing commits as `git commit` does when the repository's configuration asks for it: the
//! settings are read from Git's configuration, and a commit's bytes are signed by the program
//! `git` would run, with the arguments `git` would pass, so that kanari's commits verify with
//! `git verify-commit` and pass a branch protection that requires signed commits. A commit that
//! should be signed and cannot be is an error: kanari never falls back to an unsigned commit.
//!
//! What is read, and how, as `git` reads it:
//! - `commit.gpgsign`: sign at all (off when unset);
//! - `gpg.format`: `openpgp` (the default), `x509` or `ssh`;
//! - `user.signingkey`: for OpenPGP and X.509 the key's id (by default the committer's
//!   `Name <email>`); for SSH a key file (`~/` is the home folder; a relative path is from the
//!   work tree's top, where `git` runs its programs), or a public key written out
//!   (`key::ssh-ed25519 AAAA...`, or anything starting with `ssh-`) whose private half is in the
//!   SSH agent; without it, the first key `gpg.ssh.defaultKeyCommand` prints;
//! - the program: `gpg.program` or `gpg.openpgp.program` (default `gpg`), `gpg.x509.program`
//!   (`gpgsm`), `gpg.ssh.program` (`ssh-keygen`).
//!
//! OpenPGP and X.509 run `PROGRAM --status-fd=2 -bsau KEY` with the commit on standard input,
//! and succeed only when the status on standard error has a `[GNUPG:] SIG_CREATED` line. SSH
//! writes the commit to a file in a private temporary folder and runs `PROGRAM -Y sign -n git
//! -f KEYFILE [-U] FILE` (`-U` for a written-out key: the private key is in the agent), then
//! reads `FILE.sig`. Carriage returns before line feeds are taken out of the signature.
//!
//! Part of the git layer: [`crate::repo`] calls it when it builds a commit. It imports nothing of
//! kanari's.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, anyhow, bail};

/// The kind of signature, as `gpg.format` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    OpenPgp,
    X509,
    Ssh,
}

impl Format {
    /// The name `gpg.format` gives it.
    pub fn name(self) -> &'static str {
        match self {
            Format::OpenPgp => "openpgp",
            Format::X509 => "x509",
            Format::Ssh => "ssh",
        }
    }

    /// The configuration keys that name its program; of two, the one set last wins.
    fn program_keys(self) -> &'static [&'static str] {
        match self {
            Format::OpenPgp => &["gpg.program", "gpg.openpgp.program"],
            Format::X509 => &["gpg.x509.program"],
            Format::Ssh => &["gpg.ssh.program"],
        }
    }

    fn default_program(self) -> &'static str {
        match self {
            Format::OpenPgp => "gpg",
            Format::X509 => "gpgsm",
            Format::Ssh => "ssh-keygen",
        }
    }
}

/// Which key signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// `user.signingkey`, as written.
    Configured(String),
    /// OpenPGP and X.509 without `user.signingkey`: the committer's `Name <email>`.
    Committer,
    /// SSH without `user.signingkey`: the first line `gpg.ssh.defaultKeyCommand` prints.
    Command(String),
}

/// How commits are signed: the repository's settings, read once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signing {
    pub format: Format,
    /// The program to run, `~/` expanded.
    pub program: String,
    pub key: Key,
}

impl Signing {
    /// The signing settings in `config`; `None` when `commit.gpgsign` is off or unset.
    pub fn from_config(config: &git2::Config) -> Result<Option<Signing>> {
        let wanted = match config.get_bool("commit.gpgsign") {
            Ok(on) => on,
            Err(e) if e.code() == git2::ErrorCode::NotFound => false,
            Err(_) => bail!(
                "`commit.gpgsign` is `{}` in {}; expected true or false",
                string(config, "commit.gpgsign")?.unwrap_or_default(),
                place(config, "commit.gpgsign")
            ),
        };
        if !wanted {
            return Ok(None);
        }
        let format = match string(config, "gpg.format")?.as_deref() {
            None | Some("openpgp") => Format::OpenPgp,
            Some("x509") => Format::X509,
            Some("ssh") => Format::Ssh,
            Some(other) => {
                bail!(
                    "`gpg.format` is `{other}` in {}; expected `openpgp`, `x509` or `ssh`",
                    place(config, "gpg.format")
                )
            }
        };
        let program = last_set(config, format.program_keys())?
            .filter(|p| !p.is_empty())
            .map_or_else(|| format.default_program().to_string(), |p| expand_home(&p));
        let key = match (string(config, "user.signingkey")?.filter(|k| !k.is_empty()), format) {
            (Some(key), _) => Key::Configured(key),
            (None, Format::Ssh) => {
                match string(config, "gpg.ssh.defaultKeyCommand")?.filter(|c| !c.trim().is_empty()) {
                    Some(command) => Key::Command(command),
                    None => bail!(
                        "`commit.gpgsign` is on with `gpg.format` ssh, but neither `user.signingkey` nor `gpg.ssh.defaultKeyCommand` is set: set one, or turn signing off with `git config commit.gpgsign false`"
                    ),
                }
            }
            (None, _) => Key::Committer,
        };
        Ok(Some(Signing { format, program, key }))
    }

    /// Signs `buffer`, a commit without its signature, and returns the signature as the value
    /// of its `gpgsig` header: without its last line feed, which the header's writer adds.
    /// `committer` is `Name <email>`, the key when none is configured for OpenPGP and X.509;
    /// `cwd` is where the programs run (the work tree's top, as with `git`).
    pub fn sign(&self, buffer: &[u8], committer: &str, cwd: &Path) -> Result<String> {
        let signature = match self.format {
            Format::OpenPgp | Format::X509 => self.sign_gpg(buffer, committer, cwd)?,
            Format::Ssh => self.sign_ssh(buffer, cwd)?,
        };
        let signature = String::from_utf8(strip_cr_before_lf(&signature))
            .map_err(|_| anyhow!("`{}` wrote a signature that is not text", self.program))?;
        if signature.trim().is_empty() {
            bail!("`{}` wrote an empty signature", self.program);
        }
        Ok(signature.strip_suffix('\n').unwrap_or(&signature).to_string())
    }

    fn sign_gpg(&self, buffer: &[u8], committer: &str, cwd: &Path) -> Result<Vec<u8>> {
        let key = match &self.key {
            Key::Configured(key) => key.as_str(),
            Key::Committer | Key::Command(_) => committer,
        };
        let mut cmd = self.command(cwd);
        cmd.args(["--status-fd=2", "-bsau", key]);
        let out = run(cmd, Some(buffer)).with_context(|| self.not_run())?;
        let status = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || !status.lines().any(|l| l.starts_with("[GNUPG:] SIG_CREATED ")) {
            bail!("`{}` failed to sign the commit with key `{key}` ({}): {}", self.program, out.status, said(&status));
        }
        Ok(out.stdout)
    }

    fn sign_ssh(&self, buffer: &[u8], cwd: &Path) -> Result<Vec<u8>> {
        let scratch = Scratch::new().context("failed to create a temporary folder to sign the commit in")?;
        // The key as the error shows it, and the written-out key when the agent holds it.
        let (shown, literal) = match &self.key {
            Key::Configured(key) => (key.clone(), literal_ssh_key(key).map(str::to_string)),
            Key::Command(command) => {
                let key = self.default_key(command, cwd)?;
                (key.clone(), Some(key))
            }
            Key::Committer => bail!("signing with SSH needs `user.signingkey` or `gpg.ssh.defaultKeyCommand`"),
        };
        let key_file = match &literal {
            Some(literal) => {
                let path = scratch.0.join("key.pub");
                fs::write(&path, literal).with_context(|| format!("failed to write `{}`", path.display()))?;
                path
            }
            None => PathBuf::from(expand_home(&shown)),
        };
        let file = scratch.0.join("commit");
        fs::write(&file, buffer).with_context(|| format!("failed to write `{}`", file.display()))?;
        let mut cmd = self.command(cwd);
        cmd.args(["-Y", "sign", "-n", "git", "-f"]).arg(&key_file);
        if literal.is_some() {
            cmd.arg("-U");
        }
        cmd.arg(&file);
        let out = run(cmd, None).with_context(|| self.not_run())?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            let hint = match stderr.contains("usage:") {
                true => " (signing with SSH needs `ssh-keygen -Y sign`, from OpenSSH 8.2p1)",
                false => "",
            };
            bail!(
                "`{}` failed to sign the commit with key `{shown}` ({}){hint}: {}",
                self.program,
                out.status,
                said(&stderr)
            );
        }
        let sig = scratch.0.join("commit.sig");
        fs::read(&sig).with_context(|| format!("`{}` wrote no signature to `{}`", self.program, sig.display()))
    }

    /// The first line `gpg.ssh.defaultKeyCommand` prints, which must be a written-out key.
    fn default_key(&self, command: &str, cwd: &Path) -> Result<String> {
        let words = split_command(command)
            .filter(|w| !w.is_empty())
            .ok_or_else(|| anyhow!("`gpg.ssh.defaultKeyCommand` `{command}` is not a command line"))?;
        let mut cmd = Command::new(&words[0]);
        cmd.args(&words[1..]).current_dir(cwd);
        let out = run(cmd, None)
            .with_context(|| format!("failed to run `gpg.ssh.defaultKeyCommand` `{command}` to find a signing key"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let first = stdout.lines().next().unwrap_or_default();
        match (out.status.success(), literal_ssh_key(first)) {
            (true, Some(key)) => Ok(key.to_string()),
            (true, None) => bail!("`gpg.ssh.defaultKeyCommand` `{command}` printed no SSH public key"),
            (false, _) => bail!(
                "`gpg.ssh.defaultKeyCommand` `{command}` failed ({}): {}",
                out.status,
                said(&String::from_utf8_lossy(&out.stderr))
            ),
        }
    }

    fn command(&self, cwd: &Path) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.current_dir(cwd);
        cmd
    }

    fn not_run(&self) -> String {
        let keys = self.format.program_keys().iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" or ");
        format!("failed to run `{}` to sign the commit (the program comes from {keys})", self.program)
    }
}

/// The value of `name`, if set.
fn string(config: &git2::Config, name: &str) -> Result<Option<String>> {
    match config.get_string(name) {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(anyhow!("failed to read `{name}` from the Git configuration: {}", e.message())),
    }
}

/// Which configuration file sets `name`, in words.
fn place(config: &git2::Config, name: &str) -> &'static str {
    match config.get_entry(name).map(|e| e.level()) {
        Ok(git2::ConfigLevel::Local) => "the repository's Git configuration (`.git/config`)",
        Ok(git2::ConfigLevel::Worktree) => "the work tree's Git configuration (`config.worktree`)",
        Ok(git2::ConfigLevel::Global | git2::ConfigLevel::XDG) => "the user's Git configuration",
        Ok(git2::ConfigLevel::System | git2::ConfigLevel::ProgramData) => "the system's Git configuration",
        _ => "the Git configuration",
    }
}

/// The value set last of the keys `names` (synonyms): the one in the most specific file (the
/// repository's over the user's over the system's), and in one file the later line.
fn last_set(config: &git2::Config, names: &[&str]) -> Result<Option<String>> {
    let pattern = names.iter().map(|n| format!("^{}$", n.replace('.', "\\."))).collect::<Vec<_>>().join("|");
    let what = names.join("` or `");
    let mut entries = config.entries(Some(&pattern)).with_context(|| format!("failed to read `{what}`"))?;
    let mut last: Option<(i32, String)> = None;
    // Entries of one file come in the file's order; a later one of the same level wins.
    while let Some(entry) = entries.next() {
        let entry = entry.with_context(|| format!("failed to read `{what}`"))?;
        let value = entry.value().with_context(|| format!("`{what}` is not UTF-8"))?.to_string();
        let level = entry.level() as i32;
        if last.as_ref().is_none_or(|(l, _)| level >= *l) {
            last = Some((level, value));
        }
    }
    Ok(last.map(|(_, v)| v))
}

/// The key itself when `key` is a written-out public key: `key::` followed by it, or text that
/// starts with `ssh-`, as `git` tells them from key files.
pub fn literal_ssh_key(key: &str) -> Option<&str> {
    key.strip_prefix("key::").or_else(|| key.starts_with("ssh-").then_some(key))
}

/// `~` or `~/...` with the home folder; anything else as it is.
fn expand_home(path: &str) -> String {
    match (path.strip_prefix('~'), std::env::var("HOME")) {
        (Some(rest), Ok(home)) if rest.is_empty() || rest.starts_with('/') => format!("{home}{rest}"),
        _ => path.to_string(),
    }
}

/// The words of a command line as `git` splits `gpg.ssh.defaultKeyCommand`: on blanks, with
/// single and double quotes, and a backslash taking the next character literally outside single
/// quotes. `None` for an unclosed quote or a backslash at the end.
pub fn split_command(text: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_ascii_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (q, '\\') if q != Some('\'') => {
                word.push(chars.next()?);
                in_word = true;
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return None;
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

fn strip_cr_before_lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        if !(b == b'\r' && bytes.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

/// What a program said on standard error, on one line: its lines joined by ` / `. GnuPG's
/// machine-readable status lines are left out when it said anything else.
fn said(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let human: Vec<&str> = lines.iter().copied().filter(|l| !l.starts_with("[GNUPG:] ")).collect();
    let lines = if human.is_empty() { lines } else { human };
    match lines.is_empty() {
        true => "it printed nothing".to_string(),
        false => lines.join(" / "),
    }
}

/// Runs `cmd` with `input` on its standard input (else the caller's, so that a passphrase
/// prompt still reaches a person), and collects its output.
fn run(mut cmd: Command, input: Option<&[u8]>) -> io::Result<Output> {
    cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::inherit() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let stdin = child.stdin.take();
    std::thread::scope(|s| {
        if let (Some(mut pipe), Some(bytes)) = (stdin, input) {
            // A program that fails before it reads everything closes the pipe; its exit status
            // and standard error say why, so a failed write is not the error to report.
            s.spawn(move || {
                let _ = pipe.write_all(bytes);
            });
        }
        child.wait_with_output()
    })
}

/// A private temporary folder (mode 0700), removed with everything in it when dropped; the
/// signature `ssh-keygen` writes next to its input cannot be swapped by another user there.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> io::Result<Scratch> {
        use std::os::unix::fs::DirBuilderExt;
        let base = std::env::temp_dir();
        let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        for n in 0..100u32 {
            let path = base.join(format!("kanari-sign-{}-{}", std::process::id(), seed.wrapping_add(n)));
            match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(Scratch(path)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(io::ErrorKind::AlreadyExists, "every temporary name tried was taken"))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> (tempfile::TempDir, git2::Config) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        fs::write(&path, text).unwrap();
        let config = git2::Config::open(&path).unwrap();
        (dir, config)
    }

    fn settings(text: &str) -> Result<Option<Signing>> {
        let (_dir, config) = config(text);
        Signing::from_config(&config)
    }

    #[test]
    fn settings_are_read_as_git_reads_them() {
        let signing = |format, program: &str, key| Some(Signing { format, program: program.to_string(), key });
        let table: &[(&str, Option<Signing>)] = &[
            ("", None),
            ("[commit]\ngpgsign = false\n[user]\nsigningkey = ABCD\n", None),
            ("[user]\nsigningkey = ABCD\n", None),
            ("[commit]\ngpgsign = true\n", signing(Format::OpenPgp, "gpg", Key::Committer)),
            (
                "[commit]\ngpgsign\n[user]\nsigningkey = ABCD\n[gpg]\nprogram = gpg2\n",
                signing(Format::OpenPgp, "gpg2", Key::Configured("ABCD".into())),
            ),
            (
                "[commit]\ngpgsign = yes\n[gpg \"openpgp\"]\nprogram = a\n[gpg]\nprogram = b\n",
                signing(Format::OpenPgp, "b", Key::Committer),
            ),
            (
                "[commit]\ngpgsign = on\n[gpg]\nprogram = b\n[gpg \"openpgp\"]\nprogram = a\n",
                signing(Format::OpenPgp, "a", Key::Committer),
            ),
            ("[commit]\ngpgsign = 1\n[gpg]\nformat = x509\n", signing(Format::X509, "gpgsm", Key::Committer)),
            (
                "[commit]\ngpgsign = true\n[gpg]\nformat = x509\nprogram = gpg2\n[gpg \"x509\"]\nprogram = gitsign\n",
                signing(Format::X509, "gitsign", Key::Committer),
            ),
            (
                "[commit]\ngpgsign = true\n[gpg]\nformat = ssh\n[user]\nsigningkey = /k/id\n",
                signing(Format::Ssh, "ssh-keygen", Key::Configured("/k/id".into())),
            ),
            (
                "[commit]\ngpgsign = true\n[gpg]\nformat = ssh\n[gpg \"ssh\"]\nprogram = /opt/ssh-keygen\ndefaultKeyCommand = ssh-add -L\n",
                signing(Format::Ssh, "/opt/ssh-keygen", Key::Command("ssh-add -L".into())),
            ),
        ];
        for (text, expected) in table {
            assert_eq!(&settings(text).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn settings_that_cannot_sign_are_errors() {
        let table = [
            ("[commit]\ngpgsign = maybe\n", "`commit.gpgsign` is `maybe` in the repository's Git configuration"),
            (
                "[commit]\ngpgsign = true\n[gpg]\nformat = pgp\n",
                "`gpg.format` is `pgp` in the repository's Git configuration",
            ),
            (
                "[commit]\ngpgsign = true\n[gpg]\nformat = ssh\n",
                "neither `user.signingkey` nor `gpg.ssh.defaultKeyCommand`",
            ),
        ];
        for (text, expected) in table {
            let err = settings(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn written_out_ssh_keys_are_told_from_files() {
        assert_eq!(literal_ssh_key("key::ecdsa-sha2-nistp256 AAAA"), Some("ecdsa-sha2-nistp256 AAAA"));
        assert_eq!(literal_ssh_key("ssh-ed25519 AAAA x@y"), Some("ssh-ed25519 AAAA x@y"));
        assert_eq!(literal_ssh_key("~/.ssh/id_ed25519.pub"), None);
        assert_eq!(literal_ssh_key("ecdsa-sha2-nistp256 AAAA"), None);
    }

    #[test]
    fn key_commands_split_as_git_splits_them() {
        let words = |t: &str| split_command(t).map(|w| w.iter().map(String::as_str).map(str::to_string).collect());
        let table: &[(&str, Option<Vec<String>>)] = &[
            ("ssh-add -L", Some(vec!["ssh-add".into(), "-L".into()])),
            (
                "  a   'b c'  \"d\\\"e\" f\\ g ''",
                Some(vec!["a".into(), "b c".into(), "d\"e".into(), "f g".into(), "".into()]),
            ),
            ("'a\\b'", Some(vec!["a\\b".into()])),
            ("", Some(vec![])),
            ("'open", None),
            ("trailing\\", None),
        ];
        for (text, expected) in table {
            assert_eq!(&words(text), expected, "{text}");
        }
    }

    #[test]
    fn carriage_returns_before_line_feeds_are_dropped() {
        assert_eq!(strip_cr_before_lf(b"a\r\nb\rc\r"), b"a\nb\rc\r");
    }

    #[test]
    fn stderr_is_told_on_one_line_without_status_lines() {
        assert_eq!(
            said("[GNUPG:] INV_SGNR 9 x\ngpg: skipped \"x\": No secret key\ngpg: signing failed\n"),
            "gpg: skipped \"x\": No secret key / gpg: signing failed"
        );
        assert_eq!(said("[GNUPG:] FAILURE sign 17\n"), "[GNUPG:] FAILURE sign 17");
        assert_eq!(said(""), "it printed nothing");
    }
}
