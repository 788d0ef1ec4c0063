//! Building commits: a tree that is the parent's with one folder replaced, signed when Git's
//! configuration says so, and who a commit is by.
//!
//! kanari reads `commit.gpgsign` alone; with it on, `git commit-tree -S` (through
//! [`crate::transport::commit_signed`]) signs and writes the commit, so every format (`openpgp`,
//! `x509`, `ssh`), key setting and program `git commit` knows works the same here, and the
//! commit verifies with `git verify-commit`. A commit that should be signed and cannot be is an
//! error in git's own words: kanari never falls back to an unsigned commit.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Component, Path};

use anyhow::{Context, Result, anyhow, bail};
use git2::{ObjectType, Oid, Signature};

use super::{CommitId, MODE_BLOB, MODE_TREE, Repo};
use crate::transport::{Deadline, ToSign, commit_signed};

/// Who a commit is by, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    pub name: String,
    pub email: String,
}

/// Who a commit is by: its author and committer, each with the commit time, from
/// [`Repo::signatures`].
pub(crate) struct Signatures {
    author: Signature<'static>,
    committer: Signature<'static>,
}

impl Repo {
    /// Writes a commit whose tree is `parent`'s with the folder `dir` (project-relative) holding
    /// exactly `files`. Returns `None` when that tree is `parent`'s own: there is nothing to commit.
    /// A commit to sign is signed by `git commit-tree -S`, which may take until `deadline`.
    pub(crate) fn build_commit(
        &self,
        parent: Option<CommitId>,
        dir: &Path,
        files: &BTreeMap<String, Vec<u8>>,
        message: &str,
        by: &Signatures,
        deadline: Deadline,
    ) -> Result<Option<CommitId>> {
        let (author, committer) = (&by.author, &by.committer);
        let parent_commit = parent.map(|p| self.git.find_commit(p.0)).transpose()?;
        let base = parent_commit.as_ref().map(|c| c.tree()).transpose()?;
        let mut leaf = self.git.treebuilder(None)?;
        for (name, bytes) in files {
            let blob = self.git.blob(bytes)?;
            leaf.insert(name, blob, MODE_BLOB)?;
        }
        let leaf = leaf.write()?;
        let path = self.in_tree(dir);
        let parts: Vec<&OsStr> = path
            .components()
            .map(|c| match c {
                Component::Normal(part) => Ok(part),
                _ => Err(anyhow!("`{}` is not a plain relative path", path.display())),
            })
            .collect::<Result<_>>()?;
        let tree = self.replace_subtree(base.as_ref(), &parts, leaf)?;
        if base.as_ref().map(|t| t.id()) == Some(tree) {
            return Ok(None);
        }
        let tree = self.git.find_tree(tree)?;
        let parents: Vec<&git2::Commit> = parent_commit.iter().collect();
        let config = self.git.config().context("failed to read the Git configuration")?;
        if !wants_signing(&config)? {
            let oid = self
                .git
                .commit(None, author, committer, message, &tree, &parents)
                .context("failed to write the commit")?;
            return Ok(Some(CommitId(oid)));
        }
        // As `git commit` with `commit.gpgsign`: git itself signs and writes the commit, with every
        // format and setting it knows; a commit that cannot be signed is not written.
        let commit = ToSign {
            tree: tree.id().to_string(),
            parents: parents.iter().map(|p| p.id().to_string()).collect(),
            author: who(author),
            committer: who(committer),
            message,
        };
        let id = commit_signed(self.git.path(), &self.workdir, &commit, deadline)?;
        let oid = Oid::from_str(&id).with_context(|| format!("`git commit-tree` printed `{id}`, not a commit id"))?;
        Ok(Some(CommitId(oid)))
    }

    fn replace_subtree(&self, base: Option<&git2::Tree>, parts: &[&OsStr], leaf: Oid) -> Result<Oid> {
        let (first, rest) = parts.split_first().ok_or_else(|| anyhow!("the output folder is the repository root"))?;
        let name = first.to_str().ok_or_else(|| anyhow!("the output path is not UTF-8"))?;
        let mut builder = self.git.treebuilder(base)?;
        let id = if rest.is_empty() {
            leaf
        } else {
            let child = match base.and_then(|t| t.get_name(name)) {
                Some(entry) if entry.kind() == Some(ObjectType::Tree) => Some(self.git.find_tree(entry.id())?),
                Some(_) => bail!("`{name}` is a file in the committed tree, where the output folder goes"),
                None => None,
            };
            self.replace_subtree(child.as_ref(), rest, leaf)?
        };
        builder.insert(name, id, MODE_TREE)?;
        Ok(builder.write()?)
    }

    /// Author and committer: `--author`, else `GIT_AUTHOR_*`/`GIT_COMMITTER_*`, else `user.name`
    /// and `user.email` from Git's configuration. `when` is the commit time.
    pub(crate) fn signatures(&self, author: Option<&str>, when: jiff::Timestamp) -> Result<Signatures> {
        let time = git2::Time::new(when.as_second(), 0);
        let env = |key: &str| std::env::var(key).ok().filter(|v| !v.trim().is_empty());
        let config = self.git.config().ok();
        let from_config =
            |key: &str| config.as_ref().and_then(|c| c.get_string(key).ok()).filter(|v| !v.trim().is_empty());
        let given = author.map(parse_identity).transpose()?;
        let pick = |role: &str| -> Option<Identity> {
            if let Some(id) = &given {
                return Some(id.clone());
            }
            let upper = role.to_uppercase();
            match (env(&format!("GIT_{upper}_NAME")), env(&format!("GIT_{upper}_EMAIL"))) {
                (Some(name), Some(email)) => Some(Identity { name, email }),
                _ => match (from_config("user.name"), from_config("user.email")) {
                    (Some(name), Some(email)) => Some(Identity { name, email }),
                    _ => None,
                },
            }
        };
        let author = pick("author").or_else(|| pick("committer")).ok_or_else(|| {
            anyhow!(
                "no identity to commit as: pass --author \"Name <email>\", set GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL, or run `git config user.name NAME` and `git config user.email EMAIL`"
            )
        })?;
        let committer = pick("committer").unwrap_or_else(|| author.clone());
        let sign = |id: &Identity| Signature::new(&id.name, &id.email, &time).context("invalid identity for a commit");
        Ok(Signatures { author: sign(&author)?, committer: sign(&committer)? })
    }
}

/// `Name <email>`.
pub(crate) fn parse_identity(text: &str) -> Result<Identity> {
    let text = text.trim();
    let (name, rest) = text.split_once('<').ok_or_else(|| anyhow!("--author `{text}` is not `Name <email>`"))?;
    let email = rest.strip_suffix('>').ok_or_else(|| anyhow!("--author `{text}` is not `Name <email>`"))?;
    let (name, email) = (name.trim(), email.trim());
    if name.is_empty() || email.is_empty() || email.contains(['<', '>']) {
        bail!("--author `{text}` is not `Name <email>`");
    }
    Ok(Identity { name: name.to_string(), email: email.to_string() })
}

/// Whether `commit.gpgsign` asks for signed commits (off when unset); a value that is not a
/// boolean is an error that names the file that sets it.
fn wants_signing(config: &git2::Config) -> Result<bool> {
    const KEY: &str = "commit.gpgsign";
    match config.get_bool(KEY) {
        Ok(on) => Ok(on),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(false),
        Err(_) => {
            let value = config.get_string(KEY).unwrap_or_default();
            let place = match config.get_entry(KEY).map(|e| e.level()) {
                Ok(git2::ConfigLevel::Local) => "the repository's Git configuration (`.git/config`)",
                Ok(git2::ConfigLevel::Worktree) => "the work tree's Git configuration (`config.worktree`)",
                Ok(git2::ConfigLevel::Global | git2::ConfigLevel::XDG) => "the user's Git configuration",
                Ok(git2::ConfigLevel::System | git2::ConfigLevel::ProgramData) => "the system's Git configuration",
                _ => "the Git configuration",
            };
            bail!("`{KEY}` is `{value}` in {place}; expected true or false")
        }
    }
}

/// Name, email and time in seconds of who a commit is by, for `git commit-tree`.
fn who<'a>(s: &'a Signature<'static>) -> (&'a str, &'a str, i64) {
    (s.name().unwrap_or_default(), s.email().unwrap_or_default(), s.when().seconds())
}
