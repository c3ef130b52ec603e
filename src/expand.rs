//! `${NAME}` in arguments, expanded from the environment by healthprobe itself.
//!
//! Exec-form health checks (`["CMD", "/healthprobe", ...]`) run without a shell, so
//! `http://localhost:${PORT}/healthz` would otherwise arrive literally. Only the braced form is
//! expanded — a bare `$` stays as it is, so headers and bodies need no escaping — and `$$` is
//! a literal `$` (to write a literal `${`, use `$${`). An unset variable is a
//! misconfiguration naming it: probing a half-expanded URL would only hide the mistake.

use std::ffi::OsString;

use crate::verdict::Misconfig;

/// Expands every argument after the program name.
pub fn args(argv: Vec<OsString>) -> Result<Vec<OsString>, Misconfig> {
    argv.into_iter()
        .enumerate()
        .map(|(i, arg)| if i == 0 { Ok(arg) } else { one(arg) })
        .collect()
}

fn one(arg: OsString) -> Result<OsString, Misconfig> {
    // Arguments that are not UTF-8 (rare paths) are passed through untouched.
    match arg.to_str() {
        Some(text) if text.contains('$') => {
            expand(text, |name| std::env::var(name).ok()).map(OsString::from)
        }
        _ => Ok(arg),
    }
}

/// Expands `${NAME}` and `$$` in `text`, looking names up with `lookup`.
pub fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, Misconfig> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(after) = after.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or_else(|| {
                Misconfig(format!(
                    "unterminated ${{ in argument \"{text}\" (write $$ for a literal $)"
                ))
            })?;
            let name = &body[..end];
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(Misconfig(format!(
                    "invalid variable name \"${{{name}}}\" in argument \"{text}\""
                )));
            }
            let value = lookup(name).ok_or_else(|| {
                Misconfig(format!(
                    "environment variable {name} is not set (used as ${{{name}}} in \"{text}\")"
                ))
            })?;
            out.push_str(&value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("8080".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_braced_names_and_dollar_dollar() {
        let ok = |t: &str| expand(t, env).unwrap();
        assert_eq!(
            ok("http://localhost:${PORT}/healthz"),
            "http://localhost:8080/healthz"
        );
        assert_eq!(ok("a${EMPTY}b"), "ab");
        assert_eq!(ok("cost: $$5, ${PORT}${PORT}"), "cost: $5, 80808080");
        assert_eq!(ok("$PORT stays"), "$PORT stays");
        assert_eq!(ok("$${PORT}"), "${PORT}");
        assert_eq!(ok("trailing $"), "trailing $");
    }

    #[test]
    fn unset_or_malformed_names_are_misconfigurations() {
        assert!(expand("${NOPE}", env)
            .unwrap_err()
            .0
            .contains("NOPE is not set"));
        assert!(expand("${PORT", env)
            .unwrap_err()
            .0
            .contains("unterminated"));
        assert!(expand("${}", env)
            .unwrap_err()
            .0
            .contains("invalid variable name"));
        assert!(expand("${A-B}", env)
            .unwrap_err()
            .0
            .contains("invalid variable name"));
        assert!(expand("${1X}", env)
            .unwrap_err()
            .0
            .contains("invalid variable name"));
    }
}
