//! Colour on a terminal: the words of an outcome (FAILED, UNREACHABLE,
//! healthy, deployed, rolled back, warnings) are styled in ferry's own lines
//! on stderr. [`paint`] styles every line; the [`anstream`] streams the
//! [`super::Printer`] writes through strip the styles again wherever colour
//! is off: `--color never`, `NO_COLOR` set and non-empty (no-color.org),
//! `TERM=dumb`, or a stream that is not a terminal (auto). `--color always`
//! keeps them even in a pipe. Journal, JSON, `JUnit` and host logs never get
//! a style: they are written from the plain text.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};

/// `--color` (`FERRY_COLOR`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorChoice {
    /// Colour where a stream is a terminal (and `TERM` is not `dumb`,
    /// `NO_COLOR` is unset or empty).
    #[default]
    Auto,
    Always,
    Never,
}

/// Decide colour for the whole process, before anything is printed.
pub fn choose(choice: ColorChoice) {
    anstream::ColorChoice::write_global(match choice {
        ColorChoice::Auto => anstream::ColorChoice::Auto,
        ColorChoice::Always => anstream::ColorChoice::Always,
        ColorChoice::Never => anstream::ColorChoice::Never,
    });
}

const BAD: Style = AnsiColor::Red.on_default().bold();
const GOOD: Style = AnsiColor::Green.on_default();
const WARN: Style = AnsiColor::Yellow.on_default().bold();
const BACK: Style = AnsiColor::Yellow.on_default();

/// The words styled, each a whole word. A count after a word (`failed 0`,
/// `failed: 0`) is styled only when it is not zero.
const WORDS: &[(&str, Style)] = &[
    ("FAILED", BAD),
    ("UNREACHABLE", BAD),
    ("UNHEALTHY", BAD),
    ("unhealthy", BAD),
    ("failed", BAD),
    ("unreachable", BAD),
    ("error:", BAD),
    ("warning:", WARN),
    ("healthy", GOOD),
    ("deployed", GOOD),
    // `run`'s hosts and `status`'s HEALTH column.
    ("ok", GOOD),
    ("rolled back", BACK),
];

/// `line` with the words of an outcome styled (ANSI escapes); the
/// [`super::Printer`]'s stream strips them where colour is off.
pub fn paint(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 16);
    let mut rest = line;
    let mut previous: Option<char> = None;
    while !rest.is_empty() {
        let at_word_start = previous.is_none_or(|c| !c.is_alphanumeric() && c != '_');
        let found = at_word_start
            .then(|| {
                WORDS.iter().find(|(word, _)| {
                    rest.strip_prefix(word)
                        .is_some_and(|after| ends_word(word, after) && !zero_count(after))
                })
            })
            .flatten();
        if let Some((word, style)) = found {
            if !(*word == "healthy" && out.ends_with("not known ")) {
                let _ = write!(out, "{style}{word}{style:#}");
                rest = &rest[word.len()..];
                previous = word.chars().last();
                continue;
            }
        }
        let c = rest.chars().next().expect("not empty");
        out.push(c);
        previous = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Whether the text `after` a matched word ends it (a word ending in `:`
/// ends itself).
fn ends_word(word: &str, after: &str) -> bool {
    word.ends_with(':')
        || after
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphanumeric() && c != '_')
}

/// `after` a count's word: ` 0` or `: 0`, a zero count.
fn zero_count(after: &str) -> bool {
    let n = after.strip_prefix(':').unwrap_or(after);
    let Some(n) = n.strip_prefix(' ') else {
        return false;
    };
    let digits: String = n.chars().take_while(char::is_ascii_digit).collect();
    !digits.is_empty() && digits.bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Styles shown as `<word>` (bad), `{word}` (good), `!word!` (warning),
    /// `~word~` (rolled back), so the table reads as text.
    fn shown(line: &str) -> String {
        let mut text = paint(line);
        for (word, style) in WORDS {
            let (open, close) = match *style {
                BAD => ("<", ">"),
                GOOD => ("{", "}"),
                WARN => ("!", "!"),
                _ => ("~", "~"),
            };
            text = text.replace(
                &format!("{style}{word}{style:#}"),
                &format!("{open}{word}{close}"),
            );
        }
        text
    }

    #[test]
    fn outcome_words_are_styled_and_nothing_else() {
        let table = [
            (
                "[h1] FAILED: task `x` failed on h1",
                "[h1] <FAILED>: task `x` <failed> on h1",
            ),
            ("[h2] UNREACHABLE: refused", "[h2] <UNREACHABLE>: refused"),
            ("[h1] healthy: up", "[h1] {healthy}: up"),
            (
                "b: UNHEALTHY on r1: check `http` failed",
                "b: <UNHEALTHY> on r1: check `http` <failed>",
            ),
            // `status` rows: the HEALTH column.
            (
                "h1             r2                           r1                           ok       2026-01-01 ci",
                "h1             r2                           r1                           {ok}       2026-01-01 ci",
            ),
            (
                "h2             r2                           -                            failed   - ci",
                "h2             r2                           -                            <failed>   - ci",
            ),
            ("ok: 0  failed: 0", "ok: 0  failed: 0"),
            ("token broken", "token broken"),
            ("  h1: deployed r2 (was r1)", "  h1: {deployed} r2 (was r1)"),
            (
                "  h2: rolled back to g1 from n1",
                "  h2: ~rolled back~ to g1 from n1",
            ),
            (
                "release r2: done 1  skipped 0  failed 0  unreachable 2  not started 0",
                "release r2: done 1  skipped 0  failed 0  <unreachable> 2  not started 0",
            ),
            (
                "ok: 3  failed: 1  unreachable: 0  (4 hosts in 0.10s)",
                "{ok}: 3  <failed>: 1  unreachable: 0  (4 hosts in 0.10s)",
            ),
            (
                "warning: the started notification failed",
                "!warning:! the started notification <failed>",
            ),
            ("error: bad inventory", "<error:> bad inventory"),
            ("health `http`: unhealthy", "health `http`: <unhealthy>"),
            // Not words of an outcome: inside other words, or said of an
            // unknown state.
            (
                "r2 is already current (same sha256) but not known healthy: reused",
                "r2 is already current (same sha256) but not known healthy: reused",
            ),
            (
                "unfailedness deployedx healthyish FAILEDX",
                "unfailedness deployedx healthyish FAILEDX",
            ),
            ("üfailed ünïcode", "üfailed ünïcode"),
            ("", ""),
        ];
        for (line, want) in table {
            assert_eq!(shown(line), want, "{line:?}");
        }
    }

    #[test]
    fn a_painted_line_stripped_is_the_line() {
        let line = "[h1] FAILED: x; healthy deployed rolled back warning: failed: 2";
        let painted = paint(line);
        assert_ne!(painted, line);
        let mut stripped = Vec::new();
        let mut stream = anstream::StripStream::new(&mut stripped);
        std::io::Write::write_all(&mut stream, painted.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(stripped).unwrap(), line);
    }
}
