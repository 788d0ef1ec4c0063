//! Regexes as Envoy reads them. Envoy matches a VirtualService's `regex` with RE2, not with
//! Rust's `regex`, and the two do not read every pattern alike: RE2 refuses some that Rust
//! takes (`a{1001}`), and reads others as something else (`[a-z&&[^aeiou]]` is one class in
//! Rust and a class followed by `]` in RE2; `\b{start}` is a word start in Rust and `\b` followed
//! by the text `{start}` in RE2). [`check`] accepts only the part of the syntax both engines
//! share with one meaning, so that what lint passes is what Envoy does.
//!
//! The pattern is parsed with regex-syntax, whose syntax is a superset of what is accepted here,
//! and its syntax tree is walked for what RE2 lacks or reads differently. Two differences are
//! accepted on purpose, as RE2 reads them: `\d`, `\s`, `\w` and `\b` are ASCII-only in RE2 (Rust
//! makes them Unicode-aware), and a spec means them the way Envoy will use them. Unicode classes
//! are limited to the general categories (`\pL`, `\p{Lu}`), whose tables both engines share;
//! script names (`\p{Greek}`) are refused, since the two engines' script tables need not follow
//! the same Unicode version.

use regex_syntax::ast::{
    self, AssertionKind, Ast, ClassSet, ClassSetItem, ClassUnicodeKind, Flag, FlagsItemKind, GroupKind, HexLiteralKind,
    LiteralKind, RepetitionKind, RepetitionRange,
};

/// Regexes in matches are at most this many characters long, as Istio's admission requires.
pub(crate) const MAX_LEN: usize = 1024;
/// RE2's limit on a counted repetition, and on the copies nested counted repetitions make.
pub(crate) const MAX_REPEAT: u32 = 1000;

/// The Unicode general categories RE2 knows, by the names it spells them with.
const CATEGORIES: &[&str] = &[
    "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi",
    "Po", "Ps", "S", "Sc", "Sk", "Sm", "So", "Z", "Zl", "Zp", "Zs", "Cc", "Cf", "Co",
];

/// Why a regex is refused: the text to show after `the regex ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Longer than [`MAX_LEN`] characters.
    TooLong(usize),
    /// Neither engine can read it; the byte offset of the mistake in the regex.
    Invalid(usize, String),
    /// Rust's syntax that RE2 refuses or reads differently, at this byte offset.
    NotRe2(usize, String),
}

impl Refusal {
    /// Where in the regex the mistake is, as a byte offset (0 for a regex too long).
    pub(crate) fn offset(&self) -> usize {
        match self {
            Refusal::TooLong(_) => 0,
            Refusal::Invalid(at, _) | Refusal::NotRe2(at, _) => *at,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::TooLong(n) => write!(f, "the regex is {n} characters long; Istio allows at most {MAX_LEN}"),
            Refusal::Invalid(_, why) => write!(f, "the regex does not compile: {why}"),
            Refusal::NotRe2(_, why) => write!(f, "the regex is not one Envoy reads the same way (RE2 syntax): {why}"),
        }
    }
}

/// Checks a regex of a match: at most [`MAX_LEN`] characters, valid, and read by RE2 the way
/// it reads (see the module documentation).
pub(crate) fn check(re: &str) -> Result<(), Refusal> {
    let chars = re.chars().count();
    if chars > MAX_LEN {
        return Err(Refusal::TooLong(chars));
    }
    let invalid = |at: usize, e: &dyn std::fmt::Display| {
        Refusal::Invalid(at, e.to_string().lines().last().unwrap_or_default().trim().to_string())
    };
    let tree = ast::parse::Parser::new().parse(re).map_err(|e| invalid(e.span().start.offset, &e))?;
    walk(re, &tree, MAX_REPEAT).map_err(|(at, why)| Refusal::NotRe2(at, why))?;
    // What the tree cannot tell: unknown class names, bad ranges, and the like.
    regex_syntax::hir::translate::Translator::new()
        .translate(re, &tree)
        .map_err(|e| invalid(e.span().start.offset, &e))?;
    Ok(())
}

/// A refusal at the start of `span`.
fn at<T>(span: &ast::Span, why: String) -> Result<T, (usize, String)> {
    Err((span.start.offset, why))
}

fn text<'a>(re: &'a str, span: &ast::Span) -> &'a str {
    re.get(span.start.offset..span.end.offset).unwrap_or_default()
}

/// Walks `node`; `budget` is what RE2 still allows nested counted repetitions to multiply to
/// (RE2 divides 1000 by each enclosing count and refuses the pattern when that reaches 0).
fn walk(re: &str, node: &Ast, budget: u32) -> Result<(), (usize, String)> {
    match node {
        Ast::Empty(_) | Ast::Dot(_) | Ast::ClassPerl(_) => Ok(()),
        Ast::Flags(set) => flags(re, &set.flags),
        Ast::Literal(lit) => literal(re, lit),
        Ast::Assertion(a) => match a.kind {
            AssertionKind::StartLine
            | AssertionKind::EndLine
            | AssertionKind::StartText
            | AssertionKind::EndText
            | AssertionKind::WordBoundary
            | AssertionKind::NotWordBoundary => Ok(()),
            _ => at(
                &a.span,
                format!(
                    "`{}` is no word boundary in RE2, which reads it as other text; RE2 has `\\b` and `\\B`",
                    text(re, &a.span)
                ),
            ),
        },
        Ast::ClassUnicode(class) => unicode(re, class),
        Ast::ClassBracketed(class) => class_set(re, &class.kind),
        Ast::Repetition(rep) => {
            if let Ast::Repetition(_) = *rep.ast {
                return at(
                    &rep.op.span,
                    format!(
                        "`{}` repeats a repetition, which RE2 refuses; put the inner one in a group",
                        text(re, &rep.span)
                    ),
                );
            }
            let mut budget = budget;
            if let RepetitionKind::Range(range) = &rep.op.kind {
                let op = text(re, &rep.op.span);
                // RE2 reads `{,n}` and `{ 1 }` as plain text.
                let digits = op.trim_start_matches('{').trim_end_matches(['}', '?']);
                if digits.starts_with(',') || !digits.bytes().all(|b| b.is_ascii_digit() || b == b',') {
                    return at(
                        &rep.op.span,
                        format!("`{op}` is not a repetition in RE2, which reads it as text; write `{{0,n}}`"),
                    );
                }
                let (min, max) = match *range {
                    RepetitionRange::Exactly(n) => (n, Some(n)),
                    RepetitionRange::AtLeast(n) => (n, None),
                    RepetitionRange::Bounded(m, n) => (m, Some(n)),
                };
                let most = max.unwrap_or(min);
                if most > MAX_REPEAT {
                    return at(
                        &rep.op.span,
                        format!("`{}` repeats more than {MAX_REPEAT} times, RE2's limit", text(re, &rep.span)),
                    );
                }
                budget = budget.checked_div(most).unwrap_or(budget);
                if budget == 0 {
                    return at(
                        &rep.op.span,
                        format!("nested repetitions ending in `{op}` make more than {MAX_REPEAT} copies, RE2's limit"),
                    );
                }
            }
            walk(re, &rep.ast, budget)
        }
        Ast::Group(group) => {
            match &group.kind {
                GroupKind::CaptureIndex(_) => {}
                GroupKind::CaptureName { name, .. } => {
                    let n = &name.name;
                    let ok = n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                    if !ok {
                        return at(&name.span, format!("group name `{n}` is not RE2's: letters, digits and `_`"));
                    }
                }
                GroupKind::NonCapturing(f) => flags(re, f)?,
            }
            walk(re, &group.ast, budget)
        }
        Ast::Alternation(alt) => alt.asts.iter().try_for_each(|a| walk(re, a, budget)),
        Ast::Concat(concat) => concat.asts.iter().try_for_each(|a| walk(re, a, budget)),
    }
}

fn flags(re: &str, flags: &ast::Flags) -> Result<(), (usize, String)> {
    for item in &flags.items {
        if let FlagsItemKind::Flag(flag) = item.kind
            && matches!(flag, Flag::Unicode | Flag::CRLF | Flag::IgnoreWhitespace)
        {
            return at(
                &item.span,
                format!("flag `{}` is not RE2's, which has `i`, `m`, `s` and `U`", text(re, &item.span)),
            );
        }
    }
    Ok(())
}

fn literal(re: &str, lit: &ast::Literal) -> Result<(), (usize, String)> {
    match lit.kind {
        LiteralKind::HexFixed(HexLiteralKind::X) | LiteralKind::HexBrace(HexLiteralKind::X) => Ok(()),
        LiteralKind::HexFixed(_) | LiteralKind::HexBrace(_) => {
            at(&lit.span, format!("`{}` is not RE2's; write a code point as `\\x{{...}}`", text(re, &lit.span)))
        }
        _ => Ok(()),
    }
}

fn unicode(re: &str, class: &ast::ClassUnicode) -> Result<(), (usize, String)> {
    let known = match &class.kind {
        ClassUnicodeKind::OneLetter(c) => CATEGORIES.contains(&c.to_string().as_str()),
        ClassUnicodeKind::Named(name) => CATEGORIES.contains(&name.as_str()) || name == "Any",
        ClassUnicodeKind::NamedValue { .. } => false,
    };
    if known {
        return Ok(());
    }
    at(
        &class.span,
        format!(
            "`{}`: kanari takes only Unicode general categories spelt as RE2 spells them, such as `\\pL` or `\\p{{Lu}}`",
            text(re, &class.span)
        ),
    )
}

fn class_set(re: &str, set: &ClassSet) -> Result<(), (usize, String)> {
    match set {
        ClassSet::BinaryOp(op) => Err((
            op.lhs.span().end.offset,
            format!(
                "`{}` uses a class operation (`&&`, `--` or `~~`), which RE2 reads as plain characters",
                text(re, &op.span)
            ),
        )),
        ClassSet::Item(item) => class_item(re, item),
    }
}

fn class_item(re: &str, item: &ClassSetItem) -> Result<(), (usize, String)> {
    match item {
        ClassSetItem::Empty(_) | ClassSetItem::Ascii(_) | ClassSetItem::Perl(_) => Ok(()),
        ClassSetItem::Literal(lit) => literal(re, lit),
        ClassSetItem::Range(range) => literal(re, &range.start).and_then(|()| literal(re, &range.end)),
        ClassSetItem::Unicode(class) => unicode(re, class),
        ClassSetItem::Bracketed(inner) => at(
            &inner.span,
            format!(
                "`{}` is a class inside a class, which RE2 reads as a `[` character and more; escape it as `\\[`",
                text(re, &inner.span)
            ),
        ),
        ClassSetItem::Union(union) => union.items.iter().try_for_each(|i| class_item(re, i)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_in_characters() {
        let re = format!("a{}", "é".repeat(600));
        assert_eq!(re.len(), 1201);
        assert!(check(&re).is_ok());
        let long = "é".repeat(1025);
        assert_eq!(check(&long), Err(Refusal::TooLong(1025)));
    }

    #[test]
    fn rust_only_syntax_is_refused() {
        for (re, says) in [
            ("a{1001}", "more than 1000"),
            ("(a{100}){11}", "nested repetitions"),
            ("[a-z&&[^aeiou]]", "class operation"),
            ("[a-z--b]", "class operation"),
            ("[[a]]", "class inside a class"),
            ("\\b{start}x", "no word boundary"),
            ("\\<x", "no word boundary"),
            ("(?x)a b", "flag `x`"),
            ("(?-u:a)", "flag `u`"),
            ("\\u0041", "`\\u0041`"),
            ("\\p{Greek}", "general categories"),
            ("\\p{sc=Greek}", "general categories"),
            ("a**", "repeats a repetition"),
            ("(?<a.b>x)", "group name"),
        ] {
            match check(re) {
                Err(Refusal::NotRe2(_, why)) => assert!(why.contains(says), "{re}: {why}"),
                other => panic!("{re}: {other:?}"),
            }
        }
        for re in ["a{1000}", "(a{10}){100}", "[[:alpha:]]", "\\pL\\p{Lu}", "(?P<n>a)(?<m>b)", "(?i:x)\\b\\d+"] {
            assert_eq!(check(re), Ok(()), "{re}");
        }
    }
}
