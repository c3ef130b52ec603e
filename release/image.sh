#!/usr/bin/env bash
# The healthprobe image: multi-arch (linux/amd64, linux/arm64), FROM scratch, holding only
# /healthprobe, for `COPY --from=<image> /healthprobe /healthprobe`:
#
#   release/image.sh REF        e.g. release/image.sh 127.0.0.1:5000/healthprobe:0.2.0
#
# Pushes the image index to REF and, when REF's tag is a release version X.Y.Z (it must then
# be the crate's version), to the X.Y and X tags too; prints REF@<index digest> on stdout
# (what to sign and attest). The binaries come from release/build.sh's output (DIST, default
# dist/; built first when missing) and are checked against its SHA256SUMS and for the right
# ELF machine before they go in: an arm64 image holding an amd64 binary fails only where it
# runs, with "exec format error".
#
# Built with Debian's (or any) buildah: one build per platform into a manifest list, no
# emulation (there is no RUN), with a throwaway storage root so nothing is left behind. The
# image's timestamps come from the commit's time, so the same commit gives the same digest:
# anyone can rebuild a published image and compare. Registries on 127.0.0.1/localhost are
# spoken to over plain HTTP (like Docker does); others need TLS and `buildah login` first.
#
# Labels: org.opencontainers.image.{source,version,revision,licenses,title,description}, from
# Cargo.toml and git.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: release/image.sh REGISTRY/REPOSITORY:TAG" >&2
  exit 64
fi
ref=$1
repo=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$repo"
dist=${DIST:-dist}

# REF = NAME:TAG, where NAME may hold a registry port (host:5000/name).
name=${ref%:*}
tag=${ref##*:}
if [ "$name" = "$ref" ] || [[ $tag == */* ]] || [ -z "$tag" ]; then
  echo "release/image.sh: $ref has no tag (REGISTRY/REPOSITORY:TAG)" >&2
  exit 64
fi

manifest_field() { sed -n "s/^$1 = \"\\(.*\\)\"\$/\\1/p" Cargo.toml | head -n 1; }
version=$(manifest_field version)
source_url=$(manifest_field repository)
licenses=$(manifest_field license)
description=$(manifest_field description)
tags=("$tag")
if [[ $tag =~ ^v?([0-9]+)\.([0-9]+)\.([0-9]+)$ ]]; then
  if [ "${tag#v}" != "$version" ]; then
    echo "release/image.sh: tag $tag is not the crate's version $version (Cargo.toml)" >&2
    exit 1
  fi
  tags+=("${BASH_REMATCH[1]}.${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}")
fi
revision=$(git rev-parse --verify HEAD 2>/dev/null || echo unknown)
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

if [ ! -f "$dist/SHA256SUMS" ] || [ ! -f "$dist/healthprobe-linux-amd64" ] || [ ! -f "$dist/healthprobe-linux-arm64" ]; then
  HEALTHPROBE_ARCHES="amd64 arm64" release/build.sh "$dist" >&2
fi
(cd "$dist" && sha256sum --quiet -c SHA256SUMS) >&2

# e_machine (ELF header bytes 18-19, little endian): 62 = x86-64, 183 = AArch64.
elf_machine() { od -An -tu2 -j18 -N2 "$1" | tr -d ' '; }
for pair in amd64:62 arm64:183; do
  arch=${pair%:*}
  bin=$dist/healthprobe-linux-$arch
  if [ "$(head -c 4 "$bin" | od -An -c | tr -d ' ')" != '177ELF' ] || [ "$(elf_machine "$bin")" != "${pair#*:}" ]; then
    echo "release/image.sh: $bin is not an ELF binary for $arch (e_machine $(elf_machine "$bin"))" >&2
    exit 1
  fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/healthprobe-image.XXXXXX")
store=(--root "$work/storage" --runroot "$work/run" --storage-driver vfs)
trap 'buildah "${store[@]}" rm --all >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
mkdir -p "$work/context"
cp "$dist/healthprobe-linux-amd64" "$dist/healthprobe-linux-arm64" "$work/context/"
chmod 0755 "$work/context/"healthprobe-linux-*
cat >"$work/context/Containerfile" <<'EOF'
FROM scratch
ARG TARGETARCH
COPY healthprobe-linux-${TARGETARCH} /healthprobe
ENTRYPOINT ["/healthprobe"]
EOF

tls=true
case $name in
  127.* | localhost | localhost:* | localhost/* | '[::1]'*) tls=false ;;
esac

# One platform after the other, not `--platform a,b` in one build: that builds them in
# parallel and lists them in the index in whichever order they finish, which changes the
# index digest from one run to the next.
list=healthprobe-release:build
for platform in linux/amd64 linux/arm64; do
  buildah "${store[@]}" build --quiet --platform "$platform" --manifest "$list" \
    --timestamp "$epoch" \
    --label "org.opencontainers.image.source=$source_url" \
    --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.revision=$revision" \
    --label "org.opencontainers.image.licenses=$licenses" \
    --label "org.opencontainers.image.title=healthprobe" \
    --label "org.opencontainers.image.description=$description" \
    -f "$work/context/Containerfile" "$work/context" >&2
done

digest=
for t in "${tags[@]}"; do
  buildah "${store[@]}" manifest push --quiet --all --format oci --tls-verify="$tls" \
    --digestfile "$work/digest" "$list" "docker://$name:$t" >&2
  echo "release/image.sh: pushed $name:$t ($(cat "$work/digest"))" >&2
  if [ -n "$digest" ] && [ "$digest" != "$(cat "$work/digest")" ]; then
    echo "release/image.sh: $name:$t got another digest than $name:$tag" >&2
    exit 1
  fi
  digest=$(cat "$work/digest")
done
echo "$name@$digest"
