//! A small, table-driven command-line parser: each command is a [`Spec`] — its flags with
//! their `HEALTHPROBE_*` variables, defaults and help — and parsing yields [`Matches`] from
//! which the typed argument structs are read (args.rs).
//!
//! Why not clap: measured on 0.2's first build, clap building and parsing one probe's command
//! was 94% of a `file` probe's instructions (callgrind: 317,000 of 339,000) and ~150 KB of the
//! binary — more than the check itself, in a program run every few seconds in every
//! container. What we need is narrow and fixed: long and short flags, `--flag=value`, clusters
//! like `-qv`, values that may start with `-`, one positional, repeatable flags, variables as
//! a fallback, defaults, two conflict/require rules, one-line errors with a suggestion, and a
//! help text wrapped at 100 columns.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;

/// Where a flag is listed in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heading {
    /// The command's own options.
    Own,
    /// TLS options (shared by the probes that speak TLS).
    Tls,
    /// Options of the whole call.
    Global,
}

/// One flag of a command.
#[derive(Debug)]
pub struct Flag {
    /// `expect-status` for `--expect-status` (also the key in [`Matches`]).
    pub long: &'static str,
    /// `X` for `-X`.
    pub short: Option<char>,
    /// The value's name (`LIST`) for flags that take one; None for switches.
    pub value: Option<&'static str>,
    /// `HEALTHPROBE_EXPECT_STATUS`: read when the flag is not given (and variables apply).
    pub env: Option<&'static str>,
    /// One sentence for `--help`.
    pub help: &'static str,
    /// The value used when neither the flag nor its variable is given.
    pub default: Option<&'static str>,
    /// May be given several times (each value kept).
    pub repeat: bool,
    /// Where `--help` lists it.
    pub heading: Heading,
}

impl Flag {
    /// A switch.
    pub const fn switch(long: &'static str, env: &'static str, help: &'static str) -> Flag {
        Flag {
            long,
            short: None,
            value: None,
            env: Some(env),
            help,
            default: None,
            repeat: false,
            heading: Heading::Own,
        }
    }

    /// A flag taking a value.
    pub const fn value(
        long: &'static str,
        name: &'static str,
        env: &'static str,
        help: &'static str,
    ) -> Flag {
        Flag {
            long,
            short: None,
            value: Some(name),
            env: Some(env),
            help,
            default: None,
            repeat: false,
            heading: Heading::Own,
        }
    }

    /// With a short name.
    pub const fn short(mut self, c: char) -> Flag {
        self.short = Some(c);
        self
    }

    /// With a default value.
    pub const fn default(mut self, value: &'static str) -> Flag {
        self.default = Some(value);
        self
    }

    /// Repeatable.
    pub const fn repeat(mut self) -> Flag {
        self.repeat = true;
        self
    }

    /// Listed under another heading.
    pub const fn heading(mut self, heading: Heading) -> Flag {
        self.heading = heading;
        self
    }

    /// `--expect-status <LIST>` or `--quiet`, as errors name it.
    pub fn shown(&self) -> String {
        match self.value {
            Some(v) => format!("--{} <{v}>", self.long),
            None => format!("--{}", self.long),
        }
    }
}

/// The one positional argument of a command.
#[derive(Debug)]
pub struct Positional {
    /// `URL`.
    pub name: &'static str,
    /// `HEALTHPROBE_URL`.
    pub env: &'static str,
    /// For `--help`.
    pub help: &'static str,
}

/// A command: what `--help` says and what it takes.
#[derive(Debug)]
pub struct Spec {
    /// `http` (`healthprobe` for the top level).
    pub name: &'static str,
    /// One line.
    pub about: &'static str,
    /// Notes after the options.
    pub after: &'static str,
    /// Its positional argument, if any.
    pub positional: Option<Positional>,
    /// `CMD...` after `--` (`run`): required when present.
    pub trailing: Option<&'static str>,
    /// Its flags, in groups (the TLS flags are one group shared by several probes).
    pub flags: &'static [&'static [Flag]],
    /// `(a, b)`: a flag that cannot be given with another.
    pub conflicts: &'static [(&'static str, &'static str)],
    /// `(a, b)`: a flag that needs another.
    pub requires: &'static [(&'static str, &'static str)],
}

/// What parsing found.
#[derive(Debug)]
pub struct Matches {
    given: Vec<(&'static Flag, OsString)>,
    positional: Option<OsString>,
    /// `CMD...` after `--`.
    pub trailing: Vec<OsString>,
    flags: Vec<&'static Flag>,
    env: bool,
}

/// A usage error, in clap's familiar words (one line; the caller adds where to get help).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Usage {
    /// `--help` or `-h`.
    Help,
    /// `--version` or `-V`.
    Version,
    /// Anything else: the sentence.
    Error(String),
}

fn err<T>(text: String) -> Result<T, Usage> {
    Err(Usage::Error(text))
}

/// The closest of `known` to `given` (at most two edits), for "a similar ... exists".
pub fn nearest<'a>(given: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| (edit_distance(given, k), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance (the names compared are a few bytes long).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Parses `args` (the tokens after the command's name) against the flags of `specs` (the
/// first one's positional and trailing); variables fill in for flags not given when `env`.
pub fn parse(specs: &[&'static Spec], args: &[OsString], env: bool) -> Result<Matches, Usage> {
    let main = specs[0];
    let flags: Vec<&'static Flag> = specs
        .iter()
        .flat_map(|s| s.flags.iter().flat_map(|group| group.iter()))
        .collect();
    let mut m = Matches {
        given: Vec::new(),
        positional: None,
        trailing: Vec::new(),
        flags,
        env,
    };
    let mut i = 0;
    while i < args.len() {
        let tok = &args[i];
        i += 1;
        let text = tok.to_str().unwrap_or("");
        if text == "--" {
            match main.trailing {
                Some(_) => m.trailing = args[i..].to_vec(),
                None => {
                    for rest in &args[i..] {
                        m.take_positional(main, rest)?;
                    }
                }
            }
            break;
        }
        if text == "--help" || text == "-h" {
            return Err(Usage::Help);
        }
        if text == "--version" || text == "-V" {
            return Err(Usage::Version);
        }
        if let Some(long) = text.strip_prefix("--").filter(|l| !l.is_empty()) {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(OsString::from(v))),
                None => (long, None),
            };
            let Some(flag) = m.flags.iter().copied().find(|f| f.long == name) else {
                let tip = nearest(name, m.flags.iter().map(|f| f.long))
                    .map(|n| format!("; a similar argument exists: '--{n}'"))
                    .unwrap_or_default();
                return err(format!("unexpected argument '--{name}' found{tip}"));
            };
            let value = match (flag.value, inline) {
                (Some(_), Some(v)) => v,
                (Some(_), None) => next_value(flag, args, &mut i)?,
                (None, Some(v)) => {
                    return err(format!(
                        "unexpected value '{}' for '{}' found; no more were expected",
                        v.to_string_lossy(),
                        flag.shown()
                    ))
                }
                (None, None) => OsString::new(),
            };
            m.given.push((flag, value));
            continue;
        }
        if let Some(cluster) = text.strip_prefix('-').filter(|c| !c.is_empty()) {
            m.take_shorts(cluster, args, &mut i)?;
            continue;
        }
        m.take_positional(main, tok)?;
    }
    m.finish(main)?;
    for spec in specs {
        m.check_rules(spec)?;
    }
    Ok(m)
}

/// The value after a flag (any token, `-` first included: `--timeout -1s` is a bad duration,
/// not a missing value).
fn next_value(flag: &Flag, args: &[OsString], i: &mut usize) -> Result<OsString, Usage> {
    match args.get(*i) {
        Some(v) => {
            *i += 1;
            Ok(v.clone())
        }
        None => err(format!(
            "a value is required for '{}' but none was supplied",
            flag.shown()
        )),
    }
}

impl Matches {
    fn take_positional(&mut self, spec: &Spec, tok: &OsString) -> Result<(), Usage> {
        if spec.positional.is_none() || self.positional.is_some() {
            return err(format!(
                "unexpected argument '{}' found",
                tok.to_string_lossy()
            ));
        }
        self.positional = Some(tok.clone());
        Ok(())
    }

    /// `-q`, `-qv`, `-Xvalue`, `-X=value`, `-X value`.
    fn take_shorts(
        &mut self,
        cluster: &str,
        args: &[OsString],
        i: &mut usize,
    ) -> Result<(), Usage> {
        for (at, c) in cluster.char_indices() {
            let Some(flag) = self.flags.iter().copied().find(|f| f.short == Some(c)) else {
                return err(format!("unexpected argument '-{c}' found"));
            };
            if flag.value.is_none() {
                self.given.push((flag, OsString::new()));
                continue;
            }
            let rest = &cluster[at + c.len_utf8()..];
            let value = match rest.strip_prefix('=').unwrap_or(rest) {
                "" => next_value(flag, args, i)?,
                inline => OsString::from(inline),
            };
            self.given.push((flag, value));
            return Ok(());
        }
        Ok(())
    }

    /// The checks after all tokens: single use, the positional, conflicts, requirements.
    fn finish(&mut self, spec: &Spec) -> Result<(), Usage> {
        for (n, (flag, _)) in self.given.iter().enumerate() {
            if !flag.repeat && self.given[..n].iter().any(|(f, _)| f.long == flag.long) {
                return err(format!(
                    "the argument '{}' cannot be used multiple times",
                    flag.shown()
                ));
            }
        }
        if let Some(p) = &spec.positional {
            if self.positional.is_none() {
                self.positional = self.env_value(p.env);
            }
            if self.positional.is_none() {
                return err(format!(
                    "the following required arguments were not provided: <{}>",
                    p.name
                ));
            }
        }
        if let Some(name) = spec.trailing {
            if self.trailing.is_empty() {
                return err(format!(
                    "the following required arguments were not provided: -- <{name}>..."
                ));
            }
        }
        Ok(())
    }

    /// A spec's conflicts and requirements (variables count as given).
    fn check_rules(&self, spec: &Spec) -> Result<(), Usage> {
        for (a, b) in spec.conflicts {
            if self.present(a) && self.present(b) {
                return err(format!(
                    "the argument '{}' cannot be used with '{}'",
                    self.shown(a),
                    self.shown(b)
                ));
            }
        }
        for (a, b) in spec.requires {
            if self.present(a) && !self.present(b) {
                return err(format!(
                    "the following required arguments were not provided: {}",
                    self.shown(b)
                ));
            }
        }
        Ok(())
    }

    fn flag_named(&self, long: &str) -> Option<&'static Flag> {
        self.flags.iter().copied().find(|f| f.long == long)
    }

    fn shown(&self, long: &str) -> String {
        self.flag_named(long)
            .map_or_else(|| format!("--{long}"), Flag::shown)
    }

    fn env_value(&self, var: &str) -> Option<OsString> {
        if !self.env {
            return None;
        }
        std::env::var_os(var).filter(|v| !v.is_empty())
    }

    /// Whether the flag was given, or its variable is set (a switch's variable must say yes).
    pub fn present(&self, long: &str) -> bool {
        if self.given.iter().any(|(f, _)| f.long == long) {
            return true;
        }
        let Some(flag) = self.flag_named(long) else {
            return false;
        };
        match (flag.env.and_then(|v| self.env_value(v)), flag.value) {
            (Some(v), None) => boolish(&v.to_string_lossy()).unwrap_or(true),
            (Some(_), Some(_)) => true,
            (None, _) => false,
        }
    }

    /// The values given for a flag, else its variable's, else its default.
    fn raw(&self, long: &str) -> Vec<OsString> {
        let given: Vec<OsString> = self
            .given
            .iter()
            .filter(|(f, _)| f.long == long)
            .map(|(_, v)| v.clone())
            .collect();
        if !given.is_empty() {
            return given;
        }
        let flag = self.flag_named(long);
        if let Some(v) = flag.and_then(|f| f.env).and_then(|var| self.env_value(var)) {
            return vec![v];
        }
        flag.and_then(|f| f.default)
            .map(|d| vec![OsString::from(d)])
            .unwrap_or_default()
    }

    fn utf8(&self, long: &str, value: &OsStr) -> Result<String, Usage> {
        value.to_str().map(str::to_string).ok_or_else(|| {
            Usage::Error(format!(
                "invalid UTF-8 in the value of '{}'",
                self.shown(long)
            ))
        })
    }

    /// A switch: given, or its variable says yes (`1`, `true`, `yes`, `on`; `0`, `false`, `no`,
    /// `off` say no).
    pub fn switch(&self, long: &str) -> Result<bool, Usage> {
        if self.given.iter().any(|(f, _)| f.long == long) {
            return Ok(true);
        }
        let Some(var) = self.flag_named(long).and_then(|f| f.env) else {
            return Ok(false);
        };
        match self.env_value(var) {
            None => Ok(false),
            Some(v) => boolish(&v.to_string_lossy()).ok_or_else(|| {
                Usage::Error(format!(
                    "invalid value '{}' for '{}' (from {var}): expected 1/0, true/false, yes/no or on/off",
                    v.to_string_lossy(),
                    self.shown(long)
                ))
            }),
        }
    }

    /// The flag's value as text (the last one given).
    pub fn text(&self, long: &str) -> Result<Option<String>, Usage> {
        match self.raw(long).pop() {
            Some(v) => self.utf8(long, &v).map(Some),
            None => Ok(None),
        }
    }

    /// Every value given for a repeatable flag, as text.
    pub fn texts(&self, long: &str) -> Result<Vec<String>, Usage> {
        self.raw(long).iter().map(|v| self.utf8(long, v)).collect()
    }

    /// The flag's value as a path (any bytes).
    pub fn path(&self, long: &str) -> Option<std::path::PathBuf> {
        self.raw(long).pop().map(Into::into)
    }

    /// The flag's value parsed by `parse`, whose error becomes "invalid value ...".
    pub fn parsed<T>(
        &self,
        long: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, Usage> {
        match self.text(long)? {
            Some(v) => parse(&v).map(Some).map_err(|e| self.invalid(long, &v, &e)),
            None => Ok(None),
        }
    }

    /// Every value of a repeatable flag (comma-separated lists split) parsed by `parse`.
    pub fn parsed_list<T>(
        &self,
        long: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, Usage> {
        let mut out = Vec::new();
        for value in self.texts(long)? {
            for part in value.split(',') {
                out.push(parse(part).map_err(|e| self.invalid(long, part, &e))?);
            }
        }
        Ok(out)
    }

    fn invalid(&self, long: &str, value: &str, why: &str) -> Usage {
        Usage::Error(format!(
            "invalid value '{value}' for '{}': {why}",
            self.shown(long)
        ))
    }

    /// The positional argument as text.
    pub fn positional_text(&self, name: &str) -> Result<String, Usage> {
        let value = self.positional.clone().unwrap_or_default();
        value
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| Usage::Error(format!("invalid UTF-8 in <{name}>")))
    }

    /// The positional argument as a path (any bytes).
    pub fn positional_path(&self) -> std::path::PathBuf {
        self.positional.clone().unwrap_or_default().into()
    }
}

/// `1/0`, `true/false`, `yes/no`, `on/off` (any case).
pub fn boolish(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The help line's width.
const WIDTH: usize = 100;

/// `--help` for `spec` (its flags and those of `also`, e.g. the global options), with
/// `usage` after `Usage: ` and `commands` listed (name, about) when given.
pub fn help(spec: &Spec, also: &[&Spec], usage: &str, commands: &[(&str, &str)]) -> String {
    let mut out = format!("{}\n\nUsage: {usage}\n", spec.about);
    if !commands.is_empty() {
        out.push_str("\nCommands:\n");
        let width = commands.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        for (name, about) in commands {
            let label = format!("  {name:width$}  ");
            push_wrapped(&mut out, &label, about);
        }
    }
    if let Some(p) = &spec.positional {
        out.push_str("\nArguments:\n");
        let label = format!("  <{}>  ", p.name);
        push_wrapped(&mut out, &label, &format!("{} [env: {}]", p.help, p.env));
    }
    let all: Vec<&Flag> = std::iter::once(spec)
        .chain(also.iter().copied())
        .flat_map(|s| s.flags.iter().flat_map(|group| group.iter()))
        .collect();
    for (heading, title) in [
        (Heading::Own, "Options"),
        (Heading::Tls, "TLS options"),
        (Heading::Global, "Global options"),
    ] {
        let mut rows: Vec<(String, String)> = all
            .iter()
            .filter(|f| f.heading == heading)
            .map(|f| (label(f), described(f)))
            .collect();
        if heading == Heading::Own {
            rows.push(("-h, --help".into(), "Print help".into()));
            if spec.name == "healthprobe" {
                rows.push(("-V, --version".into(), "Print version".into()));
            }
        }
        if rows.is_empty() {
            continue;
        }
        let _ = write!(out, "\n{title}:\n");
        let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0).min(30);
        for (label, text) in rows {
            let label = if label.len() > width {
                format!("  {label}\n{}", " ".repeat(width + 4))
            } else {
                format!("  {label:width$}  ")
            };
            push_wrapped(&mut out, &label, &text);
        }
    }
    if !spec.after.is_empty() {
        out.push('\n');
        for line in spec.after.lines() {
            push_wrapped(&mut out, "", line);
        }
    }
    out
}

/// `-X, --method <METHOD>` or `    --quiet`.
fn label(flag: &Flag) -> String {
    let short = flag.short.map_or("    ".to_string(), |c| format!("-{c}, "));
    match flag.value {
        Some(v) => format!("{short}--{} <{v}>", flag.long),
        None => format!("{short}--{}", flag.long),
    }
}

/// The help text with its default and variable.
fn described(flag: &Flag) -> String {
    let mut text = flag.help.to_string();
    if let Some(d) = flag.default {
        let _ = write!(text, " [default: {d}]");
    }
    if let Some(e) = flag.env {
        let _ = write!(text, " [env: {e}]");
    }
    text
}

/// `label` then `text`, wrapped at [`WIDTH`] with continuation lines under the text.
fn push_wrapped(out: &mut String, label: &str, text: &str) {
    let last_line = label.rsplit('\n').next().unwrap_or(label);
    let indent = last_line.chars().count();
    out.push_str(label);
    let mut col = indent;
    for (n, word) in text.split(' ').enumerate() {
        let len = word.chars().count();
        if n > 0 && col + 1 + len > WIDTH {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            col = indent;
        } else if n > 0 {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += len;
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::boolish;

    #[test]
    fn booleans_are_the_documented_words_and_nothing_else() {
        for (text, value) in [("1", true), ("TRUE", true), (" yes ", true), ("on", true)] {
            assert_eq!(boolish(text), Some(value), "{text}");
        }
        for (text, value) in [
            ("0", false),
            ("False", false),
            ("no", false),
            ("OFF", false),
        ] {
            assert_eq!(boolish(text), Some(value), "{text}");
        }
        for text in ["y", "t", "n", "f", "maybe", "", "2"] {
            assert_eq!(boolish(text), None, "{text:?}");
        }
    }

    use super::*;

    static FLAGS: [Flag; 4] = [
        Flag::switch("quiet", "HP_TEST_QUIET", "Quiet.").short('q'),
        Flag::value("timeout", "DURATION", "HP_TEST_TIMEOUT", "Budget.").default("3s"),
        Flag::value("header", "NAME: VALUE", "HP_TEST_HEADER", "A header.")
            .short('H')
            .repeat(),
        Flag::switch("verbose", "HP_TEST_VERBOSE", "Verbose.").short('v'),
    ];
    static SPEC: Spec = Spec {
        name: "t",
        about: "A test command.",
        after: "",
        positional: Some(Positional {
            name: "URL",
            env: "HP_TEST_URL",
            help: "Where.",
        }),
        trailing: None,
        flags: &[&FLAGS],
        conflicts: &[],
        requires: &[],
    };

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn flags_in_every_form() {
        let m = parse(
            &[&SPEC],
            &args(&["-qv", "x", "--timeout=5s", "-HA: 1", "-H", "B: 2"]),
            false,
        )
        .unwrap();
        assert!(m.switch("quiet").unwrap() && m.switch("verbose").unwrap());
        assert_eq!(m.text("timeout").unwrap().as_deref(), Some("5s"));
        assert_eq!(m.texts("header").unwrap(), ["A: 1", "B: 2"]);
        assert_eq!(m.positional_text("URL").unwrap(), "x");
        let m = parse(&[&SPEC], &args(&["x", "--timeout", "-1s"]), false).unwrap();
        assert_eq!(m.text("timeout").unwrap().as_deref(), Some("-1s"));
        let m = parse(&[&SPEC], &args(&["x"]), false).unwrap();
        assert_eq!(
            m.text("timeout").unwrap().as_deref(),
            Some("3s"),
            "the default"
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = |list: &[&str]| match parse(&[&SPEC], &args(list), false) {
            Err(Usage::Error(e)) => e,
            other => panic!("{list:?}: {other:?}"),
        };
        assert!(e(&["x", "--timout", "1s"]).contains("a similar argument exists: '--timeout'"));
        assert!(e(&[]).contains("required arguments were not provided: <URL>"));
        assert!(e(&["x", "--timeout"]).contains("a value is required for '--timeout <DURATION>'"));
        assert!(e(&["x", "--timeout", "1s", "--timeout", "2s"])
            .contains("cannot be used multiple times"));
        assert!(e(&["x", "y"]).contains("unexpected argument 'y' found"));
        assert!(e(&["x", "--quiet=1"]).contains("unexpected value '1' for '--quiet'"));
        assert!(matches!(
            parse(&[&SPEC], &args(&["x", "-h"]), false),
            Err(Usage::Help)
        ));
    }

    #[test]
    fn help_is_wrapped_at_100_columns() {
        let text = help(&SPEC, &[], "t [OPTIONS] <URL>", &[]);
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        assert!(text.contains("[env: HP_TEST_TIMEOUT]") && text.contains("[default: 3s]"));
    }
}
