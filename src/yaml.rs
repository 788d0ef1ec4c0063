//! A small, deterministic YAML emitter for the values templates embed (pod templates, matches):
//! block style, two-space indents (lists too, as in the Istio docs), keys in sorted order, and a string quoted whenever a YAML
//! reader could take it for anything but that string.

use serde_json::Value;

/// `value` as a block at `indent` spaces, ending in a newline. Scalars and empty collections
/// come out as one line.
pub(crate) fn block(value: &Value, indent: usize) -> String {
    let mut out = String::new();
    write_block(&mut out, value, indent);
    out
}

/// A scalar (or an empty collection) as it stands after `key: `.
pub(crate) fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(o) if o.is_empty() => "{}".into(),
        _ => serde_json::to_string(value).expect("JSON values always serialize"),
    }
}

fn is_inline(value: &Value) -> bool {
    match value {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => true,
    }
}

fn write_block(out: &mut String, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, v) in map {
                out.push_str(&pad);
                out.push_str(&string(key));
                out.push(':');
                if is_inline(v) {
                    out.push(' ');
                    out.push_str(&scalar(v));
                    out.push('\n');
                } else {
                    out.push('\n');
                    write_block(out, v, indent + 2);
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                if is_inline(item) {
                    out.push_str(&format!("{pad}- {}\n", scalar(item)));
                } else {
                    // The item as a block two spaces in, its first indent replaced by the dash.
                    let inner = block(item, indent + 2);
                    out.push_str(&pad);
                    out.push_str("- ");
                    out.push_str(&inner[indent + 2..]);
                }
            }
        }
        _ => {
            out.push_str(&pad);
            out.push_str(&scalar(value));
            out.push('\n');
        }
    }
}

/// A string, plain when that reads back as the same string, double-quoted otherwise.
pub(crate) fn string(s: &str) -> String {
    if is_plain_safe(s) { s.to_string() } else { serde_json::to_string(s).expect("strings serialize") }
}

fn is_plain_safe(s: &str) -> bool {
    const RESERVED: [&str; 16] =
        ["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".inf", "-.inf", "+.inf", ".nan", "<<", "="];
    let Some(first) = s.chars().next() else { return false };
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s)) || looks_numeric(s) || looks_like_a_date(s) {
        return false;
    }
    if "-?:,[]{}#&*!|>'\"%@` ".contains(first) {
        // `-`, `?` and `:` are plain only when followed by a non-space; keep it simple and quote.
        return false;
    }
    if s.ends_with([' ', ':']) || s.contains(": ") || s.contains(" #") {
        return false;
    }
    s.chars().all(|c| !c.is_control() && c != '\u{feff}' && (c.is_ascii() || c.is_alphanumeric()))
}

/// Whether a YAML 1.1 reader could take `s` for a timestamp: `2026-01-02`, `2026-01-02T03:04:05Z`.
fn looks_like_a_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5].is_ascii_digit()
}

/// Whether a YAML 1.1 or 1.2 reader could take `s` for a number: decimal, float, hex, octal,
/// binary (underscores allowed) or base 60 (`1:30`), including the loosest float forms readers
/// accept, with no digit before the exponent or after the point (`e-83`, `.`, `1.e5`).
fn looks_numeric(s: &str) -> bool {
    if looks_like_a_loose_float(s) {
        return true;
    }
    // Lowercase: go-yaml reads `0X1F` and `0B101` as numbers too.
    let t = s.replace('_', "").to_ascii_lowercase();
    let t = t.trim_start_matches(['+', '-']);
    if t.is_empty() || !t.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return false;
    }
    let radix = |prefix: &str, ok: fn(char) -> bool| t.strip_prefix(prefix).is_some_and(|r| r.chars().all(ok));
    t.parse::<f64>().is_ok()
        || radix("0x", |c| c.is_ascii_hexdigit())
        || radix("0o", |c| c.is_digit(8))
        || radix("0b", |c| c.is_digit(2))
        || t.contains(':')
            && t.split(':').all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// YAML 1.1 floats as the `yaml` package reads them: `[-+]?([0-9][0-9_]*)?(\.[0-9_]*)?[eE][-+]?[0-9]+`
/// and `[-+]?([0-9][0-9_]*)?\.[0-9_]*`.
fn looks_like_a_loose_float(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(at) => (&s[..at], Some(&s[at + 1..])),
        None => (s, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    let digits_ = |t: &str| t.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    let whole_ok = whole.is_empty() || (whole.starts_with(|c: char| c.is_ascii_digit()) && digits_(whole));
    let fraction_ok = fraction.is_none_or(digits_);
    match exponent {
        Some(e) => {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            whole_ok && fraction_ok && !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
        }
        None => whole_ok && fraction.is_some() && fraction_ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_that_would_change_meaning_are_quoted() {
        for s in [
            "",
            "true",
            "No",
            "null",
            "~",
            "9080",
            "1.0",
            "1e3",
            "e-83",
            "E5",
            ".",
            "-.",
            "1_0.e+3",
            "._",
            "0x1F",
            "0X1F",
            "0B101",
            "0O17",
            "1:30",
            "2026-01-02",
            "2026-01-02T03:04:05Z",
            "- x",
            "a: b",
            "a #b",
            "#x",
            "*x",
            "x:",
            " x",
            "a\nb",
            "@x",
            "'x",
        ] {
            assert!(string(s).starts_with('"'), "{s:?} should be quoted");
        }
        for s in [
            "reviews",
            "v1",
            "1.16.2",
            "docker.io/istio/x:1.16.2",
            "end-user",
            "/tmp",
            "a b",
            "über",
            "^(.*?;)?(x=1)(;.*)?$",
        ] {
            assert_eq!(string(s), s, "{s:?} should be plain");
        }
    }

    #[test]
    fn blocks_nest_maps_and_lists() {
        let v = json!({"b": [{"name": "x", "ports": [{"containerPort": 80}]}, "s"], "a": {}, "c": {"d": null, "e": [[1, 2]]}});
        let expected = "\
a: {}
b:
  - name: x
    ports:
      - containerPort: 80
  - s
c:
  d: null
  e:
    - - 1
      - 2
";
        assert_eq!(block(&v, 0), expected);
        assert!(block(&v, 4).lines().all(|l| l.starts_with("    ")));
    }
}
