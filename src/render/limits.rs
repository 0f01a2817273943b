//! Bounds on template code, checked before minijinja sees it.
//!
//! minijinja parses, compiles and evaluates expressions by recursion, and
//! guards only some of it (nested brackets and blocks, 150 deep): a long run
//! of unary operators (`- - - … 1`, `not not …`), a long operator chain
//! (`1 + 1 + …`, `x | f | f …`, `x.a.a…`, `a if b else c if …`), a long
//! `elif` chain or calls nested some 90 deep overflow the stack and abort the
//! process (found by the property tests; thresholds measured on a 2 MiB
//! thread stack: 90 nested calls, ~730 `elif`, ~1,000 chained filters or
//! attributes in a debug build, a few times more in release). A config file
//! is input, so ferry must answer with an error instead. The limits are far
//! above any real template and well below those thresholds.

/// Tokens in one `{{ … }}` or `{% … %}` tag (or one `when` expression),
/// commas and colons not counted: a flat list of a hundred items is fine.
pub(super) const MAX_TAG_TOKENS: usize = 512;
/// Brackets open at once inside one tag.
pub(super) const MAX_DEPTH: usize = 24;
/// `elif` branches in one template.
pub(super) const MAX_ELIF: usize = 128;
/// Bytes in one line of a template. minijinja counts columns in 16 bits and
/// a syntax error at the last column overflows (a panic in builds with
/// overflow checks, such as the tests').
pub(super) const MAX_LINE: usize = 60_000;

/// What [`check_template`] and [`check_expression`] refuse, in words.
pub(super) fn check_template(source: &str) -> Result<(), String> {
    if let Some(long) = source.split('\n').map(str::len).find(|&n| n > MAX_LINE) {
        return Err(format!(
            "a line of the template is {long} bytes long, more than ferry allows ({MAX_LINE})"
        ));
    }
    let bytes = source.as_bytes();
    let mut elifs = 0;
    let mut i = 0;
    while i < bytes.len() {
        let open = &bytes[i..];
        if open.starts_with(b"{#") {
            i = find(bytes, i + 2, b"#}").map_or(bytes.len(), |end| end + 2);
        } else if open.starts_with(b"{{") || open.starts_with(b"{%") {
            let close: &[u8; 2] = if open[1] == b'{' { b"}}" } else { b"%}" };
            let (end, tally) = scan_code(bytes, i + 2, Some(close));
            check_tally(&tally)?;
            elifs += tally.elifs;
            i = end;
        } else {
            i += 1;
        }
    }
    if elifs > MAX_ELIF {
        return Err(format!(
            "the template has {elifs} `elif` branches, more than ferry allows ({MAX_ELIF})"
        ));
    }
    Ok(())
}

/// The same bounds for a bare expression (`when:`).
pub(super) fn check_expression(expr: &str) -> Result<(), String> {
    if expr.len() > MAX_LINE {
        return Err(format!(
            "the expression is {} bytes long, more than ferry allows ({MAX_LINE})",
            expr.len()
        ));
    }
    let (_, tally) = scan_code(expr.as_bytes(), 0, None);
    check_tally(&tally)
}

#[derive(Default)]
struct Tally {
    tokens: usize,
    max_depth: usize,
    elifs: usize,
}

fn check_tally(tally: &Tally) -> Result<(), String> {
    if tally.max_depth > MAX_DEPTH {
        return Err(format!(
            "an expression nests brackets or calls {} deep, more than ferry allows ({MAX_DEPTH})",
            tally.max_depth
        ));
    }
    if tally.tokens > MAX_TAG_TOKENS {
        return Err(format!(
            "an expression or tag is {} tokens long, more than ferry allows ({MAX_TAG_TOKENS}); split it with `set`",
            tally.tokens
        ));
    }
    Ok(())
}

/// Scan template code from `i` to its closing delimiter (or the end), the
/// way minijinja's lexer finds it: the delimiter counts only with no bracket
/// open, and strings are skipped whole. Returns where the code ends.
fn scan_code(bytes: &[u8], mut i: usize, close: Option<&[u8; 2]>) -> (usize, Tally) {
    let mut tally = Tally::default();
    let mut depth: isize = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(close) = close {
            // `-}}` and `+%}` are the delimiter with whitespace control.
            let at = if matches!(b, b'-' | b'+') { i + 1 } else { i };
            if depth == 0 && bytes[at..].starts_with(close) {
                return (at + 2, tally);
            }
        }
        match b {
            b'\'' | b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                tally.tokens += 1;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                tally.max_depth = tally.max_depth.max(depth.unsigned_abs());
                tally.tokens += 1;
            }
            b')' | b']' | b'}' => depth -= 1,
            b',' | b':' => {}
            b if b.is_ascii_whitespace() => {}
            b if is_word(b) => {
                let start = i;
                while i < bytes.len() && is_word(bytes[i]) {
                    i += 1;
                }
                tally.tokens += 1;
                if &bytes[start..i] == b"elif" {
                    tally.elifs += 1;
                }
                continue;
            }
            _ => tally.tokens += 1,
        }
        i += 1;
    }
    (bytes.len(), tally)
}

/// Letters, digits, `_` and any non-ASCII byte: one word or number token.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|at| from + at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_templates_pass() {
        for ok in [
            "cd {{ release_path | quote }} && make",
            "{% for h in range(3) %}{{ host.name }}-{{ loop.index }}{% endfor %}",
            "{{ {'a': {'b': [1, 2]}} | tojson }} text } ) ] with stray closers",
            "{# {{ - - - - }} #}{{ '}}' ~ \"%}\" }}",
            "{%- if a -%}x{%- elif b +%}y{% endif %}",
        ] {
            check_template(ok).unwrap();
        }
        let list = format!("{{{{ [{}] | join }}}}", "'x', ".repeat(200));
        check_template(&list).unwrap();
        check_expression("host.name == 'web1' and not (x or y)").unwrap();
    }

    #[test]
    fn deep_or_long_code_is_refused() {
        let unary = format!("{{{{ {}1 }}}}", "- ".repeat(2000));
        let chain = format!("{{{{ 1{} }}}}", " + 1".repeat(300));
        let calls = format!("{{{{ {}1{} }}}}", "range(".repeat(100), ")".repeat(100));
        let elifs = format!("{{% if a %}}{}{{% endif %}}", "{% elif a %}".repeat(200));
        // A `}}` inside a string or an open bracket does not end the tag.
        let hidden = format!("{{{{ '}}}}' ~ ( }}}} {} ) }}}}", "- ".repeat(600));
        let long_line = format!("{}{{{{ x }}}}", "a".repeat(MAX_LINE));
        for bad in [&unary, &chain, &calls, &elifs, &hidden, &long_line] {
            assert!(check_template(bad).is_err(), "{bad:.60}");
        }
        assert!(check_expression(&"not ".repeat(1000)).is_err());
    }
}
