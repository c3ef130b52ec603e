# Cargo tools of the release and CI checks, pinned here once: sourced by release/build.sh,
# .ci/run and the release tests (tests/suite/release.rs), so each installs the same versions.
#
#   . release/tools.sh; ensure_tool cargo-auditable
#
# ensure_tool installs a tool with `cargo install --locked` only when it is missing or at
# another version (an install takes 5 s to minutes; the check takes milliseconds), so every
# run after the first is cached. Installed versions are read from the install root's own
# record (`cargo install --list --root`), found from the binary on PATH, so a tool installed
# under one CARGO_HOME is still found by a build that uses another one.

# crate  version  binary  extra `cargo install` arguments
HEALTHPROBE_TOOLS='
cargo-auditable  0.7.7   cargo-auditable
cargo-cyclonedx  0.5.9   cargo-cyclonedx
rust-audit-info  0.5.4   rust-audit-info
cargo-audit      0.22.2  cargo-audit     --no-default-features
cargo-deny       0.20.2  cargo-deny
'

# The version of CRATE installed where BINARY is found on PATH, or nothing.
installed_tool_version() {
  local bin root
  bin=$(command -v "$2" 2>/dev/null) || return 0
  root=$(dirname "$(dirname "$bin")")
  cargo install --list --root "$root" 2>/dev/null | sed -n "s/^$1 v\([^:]*\):\$/\1/p"
}

# Installs CRATE at its pinned version unless it is already there.
ensure_tool() {
  local crate=$1 line version bin extra have
  line=$(printf '%s\n' "$HEALTHPROBE_TOOLS" | awk -v c="$crate" '$1 == c')
  if [ -z "$line" ]; then
    echo "ensure_tool: $crate is not pinned in release/tools.sh" >&2
    return 1
  fi
  read -r _ version bin extra <<<"$line"
  have=$(installed_tool_version "$crate" "$bin")
  if [ "$have" = "$version" ]; then
    return 0
  fi
  echo "installing $crate $version${have:+ (found $have)}" >&2
  # shellcheck disable=SC2086 # extra holds separate arguments
  cargo install --locked --quiet "$crate" --version "$version" $extra
}
