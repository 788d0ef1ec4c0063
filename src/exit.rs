//! Exit codes, the same for every command: the one place their numbers and meanings are written.
//! Commands return a [`Code`]; an error ends the run with the code of its [`Kind`], read from
//! [`TABLE`] (`lib::kind_of` finds the kind from the error's types: an [`Exit`] says its own, the
//! others are the typed errors of the modules that raise them). `kanari --help` ([`help`]) and
//! the README's exit-code table ([`markdown`], held equal by a test) are printed from the same
//! table. Imports nothing of kanari's.
//!
//! An I/O failure (a full disk, a read-only file system, a folder kanari may not write, a read
//! the device fails) is not bad input: the contract has no code of its own for it, and it exits
//! 4, the code of a system outside kanari that failed (here the machine's file system), which
//! also says that nothing was committed. It is not 2: 2 promises that nothing was written, and a
//! person fixing a spec would look for a mistake that is not there. An error after part of a
//! write says which files were written (`overlay::WriteStopped`).
//!
//! A run over several releases can end several ways at once: one release moved, another held
//! by a gate, a third skipped because its spec does not load. It exits with the gravest of its
//! outcomes ([`Code::worst`]), and its output names each. From the least grave to the gravest:
//!
//! 0 (done) < 1 (differences) < 3 (a gate holds: a release's ordinary life) < 2 (bad input: a
//! person must fix a spec, and that release was not judged) < 4 (an outside system failed: a
//! release may not have been judged or moved at all) < 6 (a commit landed, the clone did not
//! follow) < 5 (the analysis aborted a release: what CI must alert on first).
//!
//! So a run that aborts a failing canary while another release's spec is broken exits 5, and
//! one that promotes a release while another's spec is broken exits 2.

use std::fmt;

/// How a run ends. The numbers are part of kanari's interface (`kanari --help` lists them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    /// Success, or nothing to do.
    Ok = 0,
    /// Differences found (`diff`).
    Differences = 1,
    /// Bad input or usage; nothing was written or committed.
    BadInput = 2,
    /// A gate holds the release (`promote`).
    Gate = 3,
    /// An outside system failed, or stayed busy, after bounded retries or its deadline: a push
    /// race, a moved branch, a remote that cannot be reached, refuses the credentials or does
    /// not answer within `--timeout`, a lock that another process holds, Prometheus; or the
    /// machine's file system failed a read or a write. Nothing was committed.
    Failed = 4,
    /// The analysis failed and the release was aborted: a commit was made.
    Aborted = 5,
    /// The commit was made (and pushed, with `--push`), but the local branch, index or work tree
    /// could not follow it. The release moved; the clone needs a `git pull` or a look.
    Partial = 6,
}

/// Why an error ended a run: what [`TABLE`] maps to an exit code and to what the run left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A spec, a flag, a name or the repository's contents: a person must fix them.
    BadInput,
    /// A system outside kanari: a remote, Prometheus, a lock another process holds.
    Outside,
    /// The machine's file system failed a read or a write.
    Io,
    /// The analysis aborted the release, and the commit landed.
    Aborted,
    /// The commit landed, but the local clone could not follow it.
    Partial,
}

/// One outcome of a run: its code, what it means and, for an error, its kind and what the run
/// left behind.
pub(crate) struct Row {
    pub code: Code,
    /// The error kind that ends with this code; None for an outcome that is not an error.
    pub kind: Option<Kind>,
    /// What the code means.
    pub says: &'static str,
    /// What the run left, as the closing sentence of the code's line.
    pub left: Option<&'static str>,
}

/// Every outcome of a run, in the order of the codes: the one table.
pub(crate) const TABLE: [Row; 8] = [
    Row { code: Code::Ok, kind: None, says: "success (also: nothing to do)", left: None },
    Row { code: Code::Differences, kind: None, says: "differences found (`diff`)", left: None },
    Row {
        code: Code::BadInput,
        kind: Some(Kind::BadInput),
        says: "bad input or usage",
        left: Some("nothing was written or committed"),
    },
    Row { code: Code::Gate, kind: None, says: "a gate holds the release (`promote`)", left: None },
    Row {
        code: Code::Failed,
        kind: Some(Kind::Outside),
        says: "an outside system failed or stayed busy after bounded retries or its deadline (a push race that kept being lost, a remote that cannot be reached, refuses the credentials or does not answer within `--timeout`, a lock that another process holds, Prometheus unreachable or refusing the credentials, a commit signer that does not finish within `--timeout`)",
        left: Some("nothing was committed"),
    },
    Row {
        code: Code::Failed,
        kind: Some(Kind::Io),
        says: "the machine failed a read or a write (a full disk, a read-only file system, a folder kanari may not write)",
        left: Some("nothing was committed; the error names the files written before it, if any"),
    },
    Row {
        code: Code::Aborted,
        kind: Some(Kind::Aborted),
        says: "the analysis failed and the release was aborted",
        left: Some("a commit was made"),
    },
    Row {
        code: Code::Partial,
        kind: Some(Kind::Partial),
        says: "the commit was made (and pushed, with `--push`), but the local branch, index or work tree could not follow it",
        left: Some(
            "the release moved; the clone needs a look, a `git pull`, or `git pull --rebase` when it has commits of its own",
        ),
    },
];

impl Kind {
    fn row(self) -> &'static Row {
        TABLE.iter().find(|row| row.kind == Some(self)).expect("every kind has its row in the table")
    }

    /// The exit code a run ends with on an error of this kind.
    pub(crate) fn code(self) -> Code {
        self.row().code
    }

    /// What a run that ends on an error of this kind left.
    #[cfg(test)]
    fn left(self) -> &'static str {
        self.row().left.unwrap_or_default()
    }
}

impl Code {
    /// Where the code stands in the order of gravity (see the module's documentation).
    fn gravity(self) -> u8 {
        match self {
            Code::Ok => 0,
            Code::Differences => 1,
            Code::Gate => 2,
            Code::BadInput => 3,
            Code::Failed => 4,
            Code::Partial => 5,
            Code::Aborted => 6,
        }
    }

    /// The graver of two outcomes of one run.
    pub fn worst(self, other: Code) -> Code {
        if other.gravity() > self.gravity() { other } else { self }
    }
}

impl From<Code> for std::process::ExitCode {
    fn from(code: Code) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

/// A row's line: what the code means, then what the run left.
fn line(row: &Row) -> String {
    match row.left {
        Some(left) => format!("{}; {left}", row.says),
        None => row.says.to_string(),
    }
}

/// The width `kanari --help`'s exit codes are wrapped to.
const HELP_WIDTH: usize = 92;

/// The exit codes as `kanari --help` lists them, from [`TABLE`].
pub(crate) fn help() -> String {
    let mut out = String::from("Exit codes:");
    for row in &TABLE {
        let mut current = format!("  {}  ", row.code as u8);
        for word in line(row).replace('`', "").split(' ') {
            if current.len() + word.len() > HELP_WIDTH && !current.trim().is_empty() {
                out.push('\n');
                out.push_str(current.trim_end());
                current = " ".repeat(5);
            }
            current.push_str(word);
            current.push(' ');
        }
        out.push('\n');
        out.push_str(current.trim_end());
    }
    out
}

/// The README's exit-code section, from [`TABLE`]: an opening sentence and a table.
#[cfg(test)]
fn markdown() -> String {
    let mut out = String::from(
        "Exit codes, the same for every command (`kanari --help` lists them too):\n\n| code | meaning | what the run left |\n|---|---|---|\n",
    );
    for row in &TABLE {
        out.push_str(&format!("| {} | {} | {} |\n", row.code as u8, row.says, row.left.unwrap_or("")));
    }
    out
}

/// An error that says its own [`Kind`], for a failure no typed error of a lower module carries.
#[derive(Debug)]
pub(crate) struct Exit {
    pub kind: Kind,
    pub message: String,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_ends_with_its_gravest_outcome() {
        use Code::*;
        let order = [Ok, Differences, Gate, BadInput, Failed, Partial, Aborted];
        for (i, a) in order.iter().enumerate() {
            for (j, b) in order.iter().enumerate() {
                assert_eq!(a.worst(*b), order[i.max(j)], "{a:?} and {b:?}");
            }
        }
        assert_eq!(Aborted.worst(BadInput) as u8, 5);
        assert_eq!(Gate.worst(BadInput) as u8, 2);
    }

    #[test]
    fn every_code_and_every_kind_has_one_place_in_the_table() {
        let codes: Vec<u8> = TABLE.iter().map(|r| r.code as u8).collect();
        assert!(codes.is_sorted(), "{codes:?}");
        assert_eq!(codes.iter().copied().collect::<std::collections::BTreeSet<_>>().len(), 7);
        for kind in [Kind::BadInput, Kind::Outside, Kind::Io, Kind::Aborted, Kind::Partial] {
            assert_eq!(TABLE.iter().filter(|r| r.kind == Some(kind)).count(), 1, "{kind:?}");
        }
        // An I/O failure is never bad input: 2 promises that nothing was written.
        assert_eq!(Kind::Io.code(), Code::Failed);
        assert_eq!(Kind::BadInput.left(), "nothing was written or committed");
    }

    #[test]
    fn the_readmes_exit_codes_are_the_tables() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
        let expected = markdown();
        let first = expected.lines().next().expect("the section has an opening sentence");
        let start = readme.find(first).expect("the README has the exit-code section");
        // The section runs to the first blank line after its table.
        let table = start + readme[start..].find("\n|").expect("the section has a table");
        let end = readme[table..].find("\n\n").map_or(readme.len(), |i| table + i + 1);
        assert_eq!(&readme[start..end], expected, "README.md's exit codes differ from exit::TABLE");
    }

    #[test]
    fn the_help_lines_fit_the_terminal() {
        let help = help();
        assert!(help.lines().all(|l| l.len() <= HELP_WIDTH), "{help}");
        assert!(help.starts_with("Exit codes:\n  0  success (also: nothing to do)\n  1  differences found (diff)\n"));
    }
}
