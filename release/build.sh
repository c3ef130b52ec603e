#!/usr/bin/env bash
# Release artefacts, reproducibly:
#
#   release/build.sh [OUTDIR]     (default: dist/)
#
# OUTDIR/healthprobe-linux-amd64, OUTDIR/healthprobe-linux-arm64
#     static musl binaries built with `cargo auditable`, which embeds the dependency list
#     (crate names, versions, sources) in a `.dep-v0` section: Trivy, Grype, Syft and
#     osv-scanner read it, while a plain `cargo build` binary is invisible to them.
# OUTDIR/SHA256SUMS
#     for `sha256sum -c --ignore-missing SHA256SUMS`.
# OUTDIR/healthprobe.cdx.json
#     CycloneDX SBOM of the shipped dependency graph (from Cargo.lock, by cargo-cyclonedx).
#
# The same commit gives byte-identical binaries whatever directory it is checked out in and
# whatever CARGO_HOME holds the crates: every machine-specific path rustc would embed (panic
# locations, file!()) is remapped to a fixed name. The target's own rustflags from
# .cargo/config.toml (relocation-model=static on x86_64) stay in effect: the remaps are
# *added* to them through `--config` (an environment RUSTFLAGS would replace them instead).
#
# HEALTHPROBE_ARCHES="amd64 arm64" (the default) selects what to build. The arm64 binary is
# cross-compiled with clang and rust-lld (see .cargo/config.toml). Nothing is downloaded but
# crates (and the rustup target's standard library when it is not installed yet).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$repo"

out=${1:-dist}
mkdir -p "$out"
out=$(cd "$out" && pwd -P)
arches=${HEALTHPROBE_ARCHES:-amd64 arm64}

cargo_home=${CARGO_HOME:-$HOME/.cargo}
mkdir -p "$cargo_home"
cargo_home=$(cd "$cargo_home" && pwd -P)
export PATH="$cargo_home/bin:$PATH"
. release/tools.sh
ensure_tool cargo-auditable
ensure_tool cargo-cyclonedx

# A target dir of its own: the remaps change rustflags, which would otherwise rebuild (and
# replace) the test suite's build in target/.
target_dir=$repo/target/release-build
sysroot=$(rustc --print sysroot)

# rustc applies the last matching remap, so the more specific prefixes come later (a
# CARGO_HOME or target dir inside the checkout wins over the checkout).
remaps=(
  "$sysroot=/toolchain"
  "$repo=/build/healthprobe"
  "$target_dir=/build/target"
  "$cargo_home=/cargo"
)
flags=
for remap in "${remaps[@]}"; do
  case $remap in
    *"'"* | *[[:space:]]*) echo "release/build.sh: cannot remap a path with a quote or white space: $remap" >&2; exit 1 ;;
  esac
  flags+="${flags:+, }'--remap-path-prefix=$remap'"
done

for arch in $arches; do
  case $arch in
    amd64) target=x86_64-unknown-linux-musl ;;
    arm64) target=aarch64-unknown-linux-musl ;;
    *) echo "release/build.sh: unknown architecture $arch (amd64, arm64)" >&2; exit 1 ;;
  esac
  if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target"
  fi
  # C code (ring's) is built by the cc crate; map its paths too (assert() and __FILE__).
  cflags_var="CFLAGS_${target//-/_}"
  cflags="${!cflags_var:-}"
  for remap in "${remaps[@]}"; do
    cflags+=" -ffile-prefix-map=$remap"
  done
  env "$cflags_var=$cflags" \
    cargo auditable build --release --locked --target "$target" --target-dir "$target_dir" \
    --config "target.$target.rustflags = [$flags]"
  cp "$target_dir/$target/release/healthprobe" "$out/healthprobe-linux-$arch"
done

(
  cd "$out"
  files=()
  for arch in $arches; do files+=("healthprobe-linux-$arch"); done
  sha256sum "${files[@]}" >SHA256SUMS
)

# The SBOM of what ships: normal and build dependencies for Linux (the dependency graph is the
# same for both architectures), written next to Cargo.toml by the tool, then moved. Made
# reproducible too: its timestamp (and serial number) come from SOURCE_DATE_EPOCH, the commit's
# time, and the checkout's path in the root package's id is replaced by the remapped name.
if [ -z "${SOURCE_DATE_EPOCH:-}" ] && epoch=$(git log -1 --format=%ct 2>/dev/null); then
  export SOURCE_DATE_EPOCH=$epoch
fi
cargo cyclonedx --format json --spec-version 1.5 --target x86_64-unknown-linux-musl \
  --override-filename healthprobe.cdx -q
sed "s|path+file://$repo#|path+file:///build/healthprobe#|g" healthprobe.cdx.json >"$out/healthprobe.cdx.json"
rm healthprobe.cdx.json

echo "release/build.sh: wrote $out:" >&2
(cd "$out" && ls -l >&2 && cat SHA256SUMS >&2)
