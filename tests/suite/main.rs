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
mod dockerd;
mod empty_root;
mod file;
mod grpc;
mod grpc_options;
mod hostile;
mod http;
mod http_options;
mod http_tls;
mod log_to;
mod nginx;
mod observability;
mod size;
mod tcp;
mod tls_trust;
