//! grpc-health-probe compatibility: invoked as `grpc_health_probe` or `grpc-health-probe` (a
//! symlink or a copy), healthprobe takes that tool's flags in Go's flag syntax, prints its
//! messages and exits with its codes, so existing ECS and Kubernetes definitions keep working
//! after `COPY --from=... /healthprobe /bin/grpc_health_probe`.
//!
//! Exit codes (theirs): 0 SERVING, 1 invalid arguments, 2 connection failure, 3 RPC failure,
//! 4 answered but not SERVING. One deliberate difference: Go's flag package exits 2 on an
//! unparseable flag, which collides with "connection failure"; we exit 1 for every argument
//! error.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use crate::cli::{GrpcArgs, TlsArgs};
use crate::duration;
use crate::verdict::{Failure, Outcome, Phase};

/// Invalid command-line arguments.
pub const EXIT_INVALID_ARGUMENTS: u8 = 1;
/// Connection failed or timed out.
pub const EXIT_CONNECTION_FAILURE: u8 = 2;
/// The health RPC failed or timed out.
pub const EXIT_RPC_FAILURE: u8 = 3;
/// The RPC succeeded but the service is not SERVING.
pub const EXIT_UNHEALTHY: u8 = 4;

/// The names under which healthprobe behaves as grpc-health-probe.
pub fn invoked_as_grpc_health_probe(argv0: &OsString) -> bool {
    let name = Path::new(argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    matches!(name, "grpc_health_probe" | "grpc-health-probe")
}

/// What compat mode needs to word its messages like the original.
#[derive(Debug, Clone)]
pub struct Style {
    /// `-addr` as given.
    pub addr: String,
    /// `-connect-timeout`.
    pub connect_timeout: Duration,
    /// `-rpc-timeout`.
    pub rpc_timeout: Duration,
}

/// A parsed compat command line.
#[derive(Debug)]
pub enum Parsed {
    /// Run the grpc probe with these arguments and this message style.
    Run {
        args: Box<GrpcArgs>,
        style: Style,
        verbose: bool,
    },
    /// `-h` / `-version`: print this on stdout and exit 0.
    Print(String),
    /// Invalid arguments: print `error: <this>` and exit 1.
    Invalid(String),
}

const USAGE: &str = "Usage of grpc_health_probe (healthprobe compatibility mode):
  -addr string              (required) tcp host:port (or unix:///path) to connect
  -service string           service name to check (default: \"\")
  -connect-timeout duration timeout for establishing connection (default 1s)
  -rpc-timeout duration     timeout for health check rpc (default 1s)
  -tls                      use TLS (default: false, INSECURE plaintext transport)
  -tls-no-verify            (with -tls) don't verify the certificate presented by the server
  -tls-ca-cert string       (with -tls, optional) file containing trusted certificates
  -tls-client-cert string   (with -tls, optional) client certificate (requires -tls-client-key)
  -tls-client-key string    (with -tls) client private key (requires -tls-client-cert)
  -tls-server-name string   (with -tls) override the hostname used to verify the server certificate
  -rpc-header value         additional RPC headers in 'name: value' format (repeatable)
  -user-agent string        user-agent header value (default \"grpc_health_probe\")
  -gzip                     accepted for compatibility; requests are small and sent uncompressed
  -v                        verbose logs
  -version                  print the version and exit
  -alts, -spiffe            not supported by healthprobe
";

/// Parses grpc-health-probe's flags: `-flag value`, `-flag=value`, one or two dashes, boolean
/// flags alone or as `-flag=true|false`; parsing stops at `--` or the first non-flag.
pub fn parse(args: &[String]) -> Parsed {
    let mut addr = None;
    let mut service = String::new();
    let mut connect_timeout = Duration::from_secs(1);
    let mut rpc_timeout = Duration::from_secs(1);
    let mut tls = TlsArgs::default();
    let mut use_tls = false;
    let mut rpc_header = Vec::new();
    let mut user_agent = "grpc_health_probe".to_string();
    let mut verbose = false;

    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" || !arg.starts_with('-') || arg == "-" {
            break;
        }
        let body = arg.strip_prefix("--").unwrap_or(&arg[1..]);
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let boolean = |inline: &Option<String>| -> Result<bool, String> {
            match inline.as_deref() {
                None | Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
                Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
                Some(v) => Err(format!(
                    "invalid boolean value \"{v}\" for -{name}: parse error"
                )),
            }
        };
        let result: Result<(), String> = match name {
            "h" | "help" => return Parsed::Print(USAGE.to_string()),
            "tls" => boolean(&inline).map(|v| use_tls = v),
            "tls-no-verify" => boolean(&inline).map(|v| tls.tls_no_verify = v),
            "v" => boolean(&inline).map(|v| verbose = v),
            "gzip" => boolean(&inline).map(|_| ()),
            "version" => match boolean(&inline) {
                Ok(true) => {
                    return Parsed::Print(format!(
                        "healthprobe {} (grpc-health-probe compatible)\n",
                        env!("CARGO_PKG_VERSION")
                    ))
                }
                Ok(false) => Ok(()),
                Err(e) => Err(e),
            },
            "alts" | "spiffe" => match boolean(&inline) {
                Ok(false) => Ok(()),
                _ => Err(format!(
                    "-{name} is not supported by healthprobe (use -tls with certificates)"
                )),
            },
            "addr" | "service" | "connect-timeout" | "rpc-timeout" | "tls-ca-cert"
            | "tls-client-cert" | "tls-client-key" | "tls-server-name" | "rpc-header"
            | "user-agent" => {
                let value = match inline {
                    Some(v) => v,
                    None if i < args.len() => {
                        i += 1;
                        args[i - 1].clone()
                    }
                    None => return Parsed::Invalid(format!("flag needs an argument: -{name}")),
                };
                match name {
                    "connect-timeout" => go_duration(name, &value).map(|d| connect_timeout = d),
                    "rpc-timeout" => go_duration(name, &value).map(|d| rpc_timeout = d),
                    _ => {
                        match name {
                            "addr" => addr = Some(value),
                            "service" => service = value,
                            "tls-ca-cert" => tls.tls_ca_cert = non_empty(value),
                            "tls-client-cert" => tls.tls_client_cert = non_empty(value),
                            "tls-client-key" => tls.tls_client_key = non_empty(value),
                            "tls-server-name" => {
                                tls.tls_server_name = Some(value).filter(|v| !v.is_empty())
                            }
                            "rpc-header" => rpc_header.push(value),
                            _ => user_agent = value,
                        }
                        Ok(())
                    }
                }
            }
            _ => Err(format!("flag provided but not defined: -{name}")),
        };
        if let Err(e) = result {
            return Parsed::Invalid(e);
        }
    }

    // The original's own checks, in its order and words.
    let addr = match addr {
        Some(a) if !a.is_empty() => a,
        _ => return Parsed::Invalid("-addr not specified".into()),
    };
    if connect_timeout.is_zero() {
        return Parsed::Invalid(
            "-connect-timeout must be greater than zero (specified: 0s)".into(),
        );
    }
    if rpc_timeout.is_zero() {
        return Parsed::Invalid("-rpc-timeout must be greater than zero (specified: 0s)".into());
    }
    let checks = [
        (
            !use_tls && tls.tls_no_verify,
            "specified -tls-no-verify without specifying -tls",
        ),
        (
            !use_tls && tls.tls_ca_cert.is_some(),
            "specified -tls-ca-cert without specifying -tls",
        ),
        (
            !use_tls && tls.tls_client_cert.is_some(),
            "specified -tls-client-cert without specifying -tls",
        ),
        (
            !use_tls && tls.tls_server_name.is_some(),
            "specified -tls-server-name without specifying -tls",
        ),
        (
            tls.tls_client_cert.is_some() && tls.tls_client_key.is_none(),
            "specified -tls-client-cert without specifying -tls-client-key",
        ),
        (
            tls.tls_client_cert.is_none() && tls.tls_client_key.is_some(),
            "specified -tls-client-key without specifying -tls-client-cert",
        ),
        (
            tls.tls_no_verify && tls.tls_ca_cert.is_some(),
            "cannot specify -tls-ca-cert with -tls-no-verify (CA cert would not be used)",
        ),
        (
            tls.tls_no_verify && tls.tls_server_name.is_some(),
            "cannot specify -tls-server-name with -tls-no-verify (server name would not be used)",
        ),
    ];
    if let Some((_, message)) = checks.iter().find(|(bad, _)| *bad) {
        return Parsed::Invalid((*message).to_string());
    }

    let style = Style {
        addr: addr.clone(),
        connect_timeout,
        rpc_timeout,
    };
    let args = GrpcArgs {
        addr,
        service: vec![service],
        tls: use_tls,
        authority: None,
        rpc_header,
        user_agent: Some(user_agent),
        alive_on: Vec::new(),
        tls_options: tls,
        phase_timeouts: Some((connect_timeout, rpc_timeout)),
    };
    Parsed::Run {
        args: Box::new(args),
        style,
        verbose,
    }
}

fn non_empty(value: String) -> Option<std::path::PathBuf> {
    Some(value).filter(|v| !v.is_empty()).map(Into::into)
}

fn go_duration(name: &str, value: &str) -> Result<Duration, String> {
    duration::parse(value)
        .map_err(|_| format!("invalid value \"{value}\" for flag -{name}: parse error"))
}

/// The line and exit code grpc-health-probe would give for `outcome`.
pub fn render(outcome: &Outcome, style: &Style) -> (String, u8) {
    match outcome {
        Outcome::Checked { checks, .. } => {
            match checks.iter().find_map(|c| c.result.as_ref().err()) {
                None => ("status: SERVING".into(), 0),
                Some(failure) => render_failure(failure, style),
            }
        }
        Outcome::Misconfigured { problem, .. } => {
            (format!("error: {problem}"), EXIT_INVALID_ARGUMENTS)
        }
        Outcome::CannotRun { reason, .. } => (format!("error: {reason}"), EXIT_INVALID_ARGUMENTS),
    }
}

fn render_failure(failure: &Failure, style: &Style) -> (String, u8) {
    let human = duration::human;
    match failure.phase {
        Phase::Resolve | Phase::Connect | Phase::Tls if failure.timed_out => (
            format!("timeout: failed to connect service {:?} within {}", style.addr, human(style.connect_timeout)),
            EXIT_CONNECTION_FAILURE,
        ),
        Phase::Resolve | Phase::Connect | Phase::Tls => {
            (format!("error: failed to connect service at {:?}: {failure}", style.addr), EXIT_CONNECTION_FAILURE)
        }
        Phase::Check => {
            let status = failure.fact_str("serving_status").unwrap_or("UNKNOWN");
            (format!("service unhealthy (responded with {status:?})"), EXIT_UNHEALTHY)
        }
        _ if failure.timed_out => {
            (format!("timeout: health rpc did not complete within {}", human(style.rpc_timeout)), EXIT_RPC_FAILURE)
        }
        _ if failure.fact_str("grpc_status") == Some("UNIMPLEMENTED") => (
            "error: this server does not implement the grpc health protocol (grpc.health.v1.Health)".into(),
            EXIT_RPC_FAILURE,
        ),
        _ => (format!("error: health rpc failed: {failure}"), EXIT_RPC_FAILURE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Parsed {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn go_flag_syntax_is_accepted() {
        let Parsed::Run { args, style, .. } = run(&[
            "-addr=localhost:10080",
            "--rpc-timeout",
            "2s",
            "-service",
            "x",
            "-tls",
            "-tls-no-verify=true",
        ]) else {
            panic!("should parse");
        };
        assert_eq!(args.addr, "localhost:10080");
        assert_eq!(args.service, ["x"]);
        assert!(args.tls && args.tls_options.tls_no_verify);
        assert_eq!(style.rpc_timeout, Duration::from_secs(2));
        assert_eq!(style.connect_timeout, Duration::from_secs(1));
    }

    #[test]
    fn argument_errors_use_the_original_words() {
        let invalid = |args: &[&str]| match run(args) {
            Parsed::Invalid(m) => m,
            other => panic!("{args:?} should be invalid, got {other:?}"),
        };
        assert_eq!(invalid(&[]), "-addr not specified");
        assert_eq!(
            invalid(&["-addr=x:1", "-bogus"]),
            "flag provided but not defined: -bogus"
        );
        assert_eq!(
            invalid(&["-addr=x:1", "-tls-no-verify"]),
            "specified -tls-no-verify without specifying -tls"
        );
        assert!(invalid(&["-addr=x:1", "-rpc-timeout", "soon"]).contains("-rpc-timeout"));
        assert!(invalid(&["-addr=x:1", "-alts"]).contains("not supported"));
        assert!(invalid(&["-addr=x:1", "-spiffe"]).contains("not supported"));
        assert_eq!(invalid(&["-addr"]), "flag needs an argument: -addr");
    }
}
