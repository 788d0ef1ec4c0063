//! Problems found in input files, each with its `file:line:column` and the source line, so a
//! person can act on them. Loading and validation collect every problem before giving up.

use std::fmt;
use std::path::{Path, PathBuf};

/// A place in an input file. Lines and columns start at 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
}

/// A place in a spec file, with its source line, kept on validated values so that later
/// checks (warnings) can point at them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
    pub source_line: String,
}

impl Place {
    /// The place `line:column` of `file`, whose text is `source`.
    pub(crate) fn at(file: &Path, source: &str, line: u64, column: u64) -> Self {
        let source_line = source.lines().nth(line.saturating_sub(1) as usize).unwrap_or("").to_string();
        Place { file: file.to_path_buf(), line: line.max(1), column: column.max(1), source_line }
    }

    /// A problem (or warning) at this place.
    pub(crate) fn problem(&self, message: impl Into<String>) -> Problem {
        Problem {
            location: Location { file: self.file.clone(), line: self.line, column: self.column },
            message: message.into(),
            source_line: self.source_line.clone(),
            note: None,
        }
    }
}

/// One thing wrong with an input, where it is, and the text found there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub location: Location,
    pub message: String,
    /// The source line the problem points into (empty when there is none).
    pub source_line: String,
    /// A second place the problem involves (the other definition of a release defined twice,
    /// the other release writing to a folder), printed after it as a `note:`.
    pub note: Option<Box<Note>>,
}

/// The other place of a problem that spans two places, and what is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub place: Place,
    pub message: String,
}

impl Problem {
    /// A problem at `line:column` of `file`, whose text is `source`.
    pub(crate) fn at(file: &Path, source: &str, line: u64, column: u64, message: impl Into<String>) -> Self {
        Place::at(file, source, line, column).problem(message)
    }

    /// `file:line:column: message`, the problem's first line.
    pub(crate) fn headline(&self) -> String {
        headline(&self.location, &self.message)
    }

    /// The same problem, with a note about a second place it involves.
    pub(crate) fn with_note(mut self, place: &Place, message: impl Into<String>) -> Self {
        self.note = Some(Box::new(Note { place: place.clone(), message: message.into() }));
        self
    }
}

fn headline(location: &Location, message: &str) -> String {
    let Location { file, line, column } = location;
    format!("{}:{line}:{column}: {message}", file.display())
}

/// `file:line:column: message`, then the source line with a caret under the column.
fn write_at(f: &mut fmt::Formatter<'_>, location: &Location, message: &str, source_line: &str) -> fmt::Result {
    let (line, column) = (location.line, location.column);
    f.write_str(&headline(location, message))?;
    if !source_line.is_empty() {
        // Long lines (minified YAML, a huge scalar) are cut around the column.
        let text: String = source_line.chars().take(200).collect();
        let gutter = line.to_string().len();
        let caret = (column as usize).saturating_sub(1).min(text.chars().count());
        let pad: String = text.chars().take(caret).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
        write!(f, "\n {line} | {text}\n {:gutter$} | {pad}^", "")?;
    }
    Ok(())
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_at(f, &self.location, &self.message, &self.source_line)?;
        if let Some(note) = &self.note {
            let Place { file, line, column, source_line } = &note.place;
            let location = Location { file: file.clone(), line: *line, column: *column };
            write!(f, "\n note: ")?;
            write_at(f, &location, &note.message, source_line)?;
        }
        Ok(())
    }
}

/// Every problem found in one run; the error behind exit code 2 for bad specs.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub(crate) fn push(&mut self, problem: Problem) {
        self.0.push(problem);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Sorted by file, then place, so the report reads top to bottom.
    pub(crate) fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            let (a, b) = (&a.location, &b.location);
            (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column))
        });
        self.0.dedup();
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            writeln!(f, "error: {problem}")?;
        }
        let n = self.0.len();
        write!(f, "{n} problem{} found", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for Problems {}
