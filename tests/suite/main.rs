//! The integration suite: one test binary (it links once, and every test shares
//! [`common`]'s harness) that spawns the real healthprobe against real servers.
//!
//! Each module covers one part of the product; run one with `tests/run.sh -- http::` (a
//! filter on the module path).

mod common;

mod arm64;
mod bad_input;
mod cli;
mod compat;
mod container;
mod contract;
mod dockerd;
mod empty_root;
mod file;
mod grpc;
mod grpc_connect;
mod grpc_options;
mod grpc_proxy;
mod hostile;
mod http;
mod http_options;
mod http_output;
mod http_redirects;
mod http_resolve;
mod http_tls;
mod http_urls;
mod log_to;
mod multi;
mod mysql;
mod nginx;
mod observability;
mod postgres;
mod redis;
mod release;
mod run;
mod servers;
mod size;
mod tcp;
mod tls_trust;
mod wait;
