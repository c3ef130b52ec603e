#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this).
#
# Prepares what the tests need and is safe to re-run:
#   - the x86_64 musl target, and the static release binary the tests run (the container
#     tests also build a small static test app from tests/programs/app.rs);
#   - a Python venv in target/test-venv with grpcio, the independent gRPC peer;
# then runs `cargo test` with the suite pointed at the static binary, so what is tested is
# what ships. Extra arguments go to `cargo test` (e.g. tests/run.sh -- http:: runs one module of the suite).
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-musl
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi

venv=target/test-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import grpc_health.v1' 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements.txt
fi

cargo build --release --locked --target "$target"
static_bin="$PWD/target/$target/release/healthprobe"

# arm64, cross-compiled (clang for ring, rust-lld to link; see .cargo/config.toml) and run
# under qemu-user-static by tests/suite/arm64.rs.
arm_target=aarch64-unknown-linux-musl
if command -v clang >/dev/null; then
  if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$arm_target"; then
    rustup target add "$arm_target"
  fi
  cargo build --release --locked --target "$arm_target"
  export HEALTHPROBE_ARM64_BIN="$PWD/target/$arm_target/release/healthprobe"
else
  echo "tests/run.sh: clang not found: the arm64 build and its tests are skipped" >&2
fi

export HEALTHPROBE_BIN="$static_bin"
export HEALTHPROBE_STATIC_BIN="$static_bin"
export HEALTHPROBE_TEST_PYTHON="$PWD/$venv/bin/python"
if [ "$#" -gt 0 ]; then
  cargo test --locked "$@"
else
  # The release tests build the release twice (minutes on both cores): they run first and
  # alone, not beside the suite's timing-bounded tests.
  cargo test --locked --test suite -- release::
  cargo test --locked -- --skip release::
fi
