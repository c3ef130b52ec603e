//! Text that reaches a line: cleaned of what a terminal or log viewer would interpret, cut to
//! fit, and I/O errors in short words.
//!
//! Peers choose part of every line (a gRPC status message, a JSON value, a Redis error), and
//! the line ends up in terminals, `docker inspect` and CloudWatch. So control characters and the
//! invisible or direction-changing format characters (U+202E can make a log line read
//! backwards, U+2028 breaks it in two for some viewers) are shown escaped, never raw.

use std::fmt::Write as _;
use std::io;

/// Docker keeps the first 4096 bytes of a check's output; a line (with its newline) fits.
pub const MAX_LINE: usize = 4096;

/// Marks text that was cut to fit.
pub const CUT_MARKER: &str = "...[cut]";

/// Whether `c` must not appear raw in a line: control characters (C0, DEL, C1) and the
/// invisible format and separator characters (bidi overrides and isolates, zero-width
/// characters, line/paragraph separators, the BOM, tag characters).
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{E0001}'
                | '\u{E0020}'..='\u{E007F}'
        )
}

/// `text` with every [`is_hidden`] character shown as an escape: `\x1b` for control
/// characters, `\u{202e}` for the others.
pub fn clean(text: &str) -> String {
    if !text.chars().any(is_hidden) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(out, "\\x{:02x}", c as u32 & 0xff);
        } else if is_hidden(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` as one output line: [`clean`]ed and [`cap`]ped to [`MAX_LINE`] with room for its
/// newline.
pub fn line(text: &str) -> String {
    cap(&clean(text), MAX_LINE - 1)
}

/// `text` cut to at most `max` bytes (on a character boundary), marked when cut.
pub fn cap(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(CUT_MARKER.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{CUT_MARKER}", &text[..end])
}

/// A short lower-case reason for an I/O error, without Rust's `(os error N)` suffix.
pub fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset by peer".into(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timed out".into(),
        io::ErrorKind::NotFound => "not found".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::UnexpectedEof => "connection closed early".into(),
        _ => {
            let text = e.to_string();
            let text = match text.find(" (os error") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_invisible_formatting_are_escaped() {
        assert_eq!(clean("ok\x1b[31mred\r\n"), "ok\\x1b[31mred\\x0d\\x0a");
        assert_eq!(
            clean("a\u{202E}b\u{2028}c\u{200B}d\u{FEFF}e"),
            "a\\u{202e}b\\u{2028}c\\u{200b}d\\u{feff}e"
        );
        assert_eq!(clean("plain é ✓"), "plain é ✓");
    }

    #[test]
    fn cap_cuts_on_a_character_boundary_and_marks_it() {
        let long = "é".repeat(5000);
        let capped = cap(&long, 100);
        assert!(
            capped.len() <= 100 && capped.ends_with(CUT_MARKER),
            "{capped}"
        );
        assert_eq!(cap("short", 100), "short");
    }
}
