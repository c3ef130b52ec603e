//! Property-based fuzzing of every parser healthprobe owns: arbitrary input must never panic,
//! and what parses must round-trip. `cargo test` runs each property on 256 random inputs;
//! `PROPTEST_CASES=1000000 cargo test --release fuzz_` runs them for as long as you like
//! (README, "Hardening").

use proptest::prelude::*;

use crate::cli::StatusSet;
use crate::net::HostPort;
use crate::{cli, compat, duration, expand, json, text};

proptest! {
    #[test]
    fn fuzz_duration_parser(text in ".{0,40}") {
        if let Ok(d) = duration::parse(&text) {
            let _ = duration::human(d);
        }
    }

    #[test]
    fn fuzz_duration_round_trip(n in 1u64..100_000, unit in prop::sample::select(vec!["ms", "s", "m"])) {
        let d = duration::parse(&format!("{n}{unit}"));
        let millis = match unit { "ms" => n, "s" => n * 1000, _ => n * 60_000 };
        if millis <= 86_400_000 {
            prop_assert_eq!(d, Ok(std::time::Duration::from_millis(millis)));
        }
    }

    #[test]
    fn fuzz_status_lists(text in "[0-9,\\- ]{0,30}") {
        if let Ok(set) = StatusSet::parse(&text) {
            prop_assert_eq!(StatusSet::parse(&set.to_string()), Ok(set));
        }
    }

    #[test]
    fn fuzz_host_port(text in "\\PC{0,40}") {
        if let Ok(hp) = HostPort::parse(&text) {
            prop_assert_eq!(HostPort::parse(&hp.to_string()), Ok(hp));
        }
    }

    #[test]
    fn fuzz_json_parser(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(doc) = json::parse(&bytes) {
            let _ = doc.pointer("/a/0/b");
        }
    }

    #[test]
    fn fuzz_json_structured(text in "[\\[\\]{}\":,0-9a-z\\\\ .eE+-]{0,200}", pointer in "(/[a-z0-9~]{0,3}){0,4}") {
        if json::validate_pointer(&pointer).is_ok() {
            if let Ok(doc) = json::parse(text.as_bytes()) {
                if let Some(v) = doc.pointer(&pointer) {
                    let _ = v.matches("x");
                    let _ = v.to_string();
                }
            }
        }
    }

    #[test]
    fn fuzz_expansion(text in "[a-zA-Z0-9_${}]{0,40}") {
        let out = expand::expand(&text, |name| (name == "X").then(|| "1".to_string()));
        if !text.contains('$') {
            prop_assert_eq!(out, Ok(text));
        }
    }

    #[test]
    fn fuzz_clean_and_cap(text in "\\PC{0,300}|[\\x00-\\x1f\\x7f\u{200b}-\u{200f}\u{2028}-\u{202e}\u{feff}]{0,50}", max in 10usize..200) {
        let cleaned = text::clean(&text);
        prop_assert!(!cleaned.chars().any(text::is_hidden));
        prop_assert!(text::cap(&cleaned, max).len() <= max.max(cleaned.len().min(max)));
    }

    #[test]
    fn fuzz_command_line(args in prop::collection::vec("[-a-z0-9:=./ ]{0,12}|--and|--|wait|tcp|http", 0..8)) {
        let mut argv = vec![std::ffi::OsString::from("healthprobe")];
        argv.extend(args.iter().map(std::ffi::OsString::from));
        let _ = cli::parse(&argv);
        let _ = compat::parse(&args);
    }
}
