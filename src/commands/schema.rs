//! `kanari schema`: the JSON Schema of a Canary spec ([`crate::spec::schema`]), printed as
//! pretty JSON for editors. It needs no repository.

use anyhow::Result;

use crate::exit::Code;

/// Prints the schema, ending in a newline.
pub(super) fn run() -> Result<Code> {
    print!("{}", text());
    Ok(Code::Ok)
}

/// The schema as printed: pretty JSON (two spaces), objects in sorted order, a final newline.
pub(super) fn text() -> String {
    let mut text = serde_json::to_string_pretty(&crate::spec::schema()).expect("a JSON value serializes");
    text.push('\n');
    text
}
