//! `NAME: VALUE` as a user writes a header on the command line (http `-H`, grpc
//! `--rpc-header`), parsed one way for both probes.
//!
//! Such text often carries a credential (`Authorization: Bearer ...`, often from `${TOKEN}`),
//! and the message goes to an orchestrator's logs: so no message shows the text or the value,
//! only the flag, the header's position (while its name is not known) and then its name.

use http::header::{HeaderName, HeaderValue};

use crate::verdict::Misconfig;

/// The `index`th (from 1) `flag` (`--header`, `--rpc-header`): split at the first `:`, both
/// sides trimmed, the name a valid header name (lower-cased, as HTTP/2 sends it) and the value
/// free of control characters.
pub fn parse(flag: &str, index: usize, text: &str) -> Result<(HeaderName, HeaderValue), Misconfig> {
    let (name, value) = text.split_once(':').ok_or_else(|| {
        Misconfig(format!(
            "{flag} #{index}: expected NAME: VALUE, and there is no ':' (the text is not \
             shown: it may hold a secret)"
        ))
    })?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
        Misconfig(format!(
            "{flag} #{index}: what comes before the first ':' is not a header name (letters, \
             digits and -, no spaces; the text is not shown: it may hold a secret)"
        ))
    })?;
    let value = HeaderValue::from_str(value.trim()).map_err(|_| {
        Misconfig(format!(
            "{flag} {name}: the value holds a control character such as a newline (the \
             value is not shown: it may hold a secret)"
        ))
    })?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn headers_need_a_name_and_a_colon() {
        let (name, value) = parse("--header", 1, " X-Probe :  1 ").unwrap();
        assert_eq!((name.as_str(), value.to_str().unwrap()), ("x-probe", "1"));
        assert!(parse("--header", 1, "X-Empty:").is_ok());
        for bad in ["NoColon", ": value", "Bad Name: x", "X: a\nb"] {
            assert!(parse("--header", 1, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn messages_show_the_flag_and_never_the_text() {
        for (text, want) in [
            ("Bearer SECRET", "--rpc-header #3: expected NAME: VALUE"),
            ("Bearer SECRET: x", "--rpc-header #3: what comes before"),
            (
                "Authorization: SECRET\nx",
                "--rpc-header authorization: the value",
            ),
        ] {
            let Err(e) = parse("--rpc-header", 3, text) else {
                panic!("{text:?} parsed")
            };
            assert!(e.0.starts_with(want), "{}", e.0);
            assert!(!e.0.contains("SECRET"), "{}", e.0);
        }
    }
}
