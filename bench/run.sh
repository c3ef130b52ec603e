#!/usr/bin/env bash
# healthprobe's benchmark: size, exec-to-exit time, CPU and memory, side by side with the
# tools a user would otherwise pick, all measured in ONE run so the ratios are fair on a noisy
# machine. Writes bench/results.md (the table the README's Performance section shows).
#
#   bench/run.sh            # on a Debian machine with rustup; installs what it needs as root
#   RUNS=500 bench/run.sh   # more runs per command (default 200, warm-up 20)
#
# Peers: a static C client that connects, sends `GET / HTTP/1.0` and reads the status line
# (the floor: the least a check can do), busybox `wget -q --spider` (busybox-static), and
# curl `-fsS -o /dev/null`. Servers: bench/server.c (a one-thread C server that answers one
# fixed response; fast and deterministic, so the client is what is measured), nginx for
# HTTPS, and tonic-health's own servicer for gRPC (bench/grpc-server).
# Never run in the test suite: timings are not assertions.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out="$root/bench/results.md"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
runs=${RUNS:-200}

need=()
for tool in hyperfine curl gcc openssl; do command -v "$tool" >/dev/null || need+=("$tool"); done
[ -x /usr/bin/time ] || need+=(time)
[ -x /bin/busybox ] || need+=(busybox-static)
[ -x /usr/sbin/nginx ] || need+=(nginx-light)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
  else
    echo "bench/run.sh: missing ${need[*]} (apt-get install them)" >&2
    exit 1
  fi
fi

echo "== building" >&2
rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1 || true
cargo build --release --locked --target x86_64-unknown-linux-musl >&2
hp="$root/target/x86_64-unknown-linux-musl/release/healthprobe"
arm_size="not built (no clang)"
if command -v clang >/dev/null; then
  rustup target add aarch64-unknown-linux-musl >/dev/null 2>&1 || true
  cargo build --release --locked --target aarch64-unknown-linux-musl >&2
  arm_size=$(stat -c %s target/aarch64-unknown-linux-musl/release/healthprobe)
fi
CARGO_TARGET_DIR="$root/target/bench" cargo build --release --manifest-path bench/grpc-server/Cargo.toml >&2
gcc -O2 -o "$work/server" bench/server.c
gcc -O2 -static -o "$work/floor" bench/floor.c

bloat="(cargo-bloat not installed: cargo install cargo-bloat)"
if command -v cargo-bloat >/dev/null; then
  # Its own target dir: cargo-bloat builds unstripped, which must not replace the real binary.
  bloat=$(CARGO_TARGET_DIR="$root/target/bloat" cargo bloat --release --target x86_64-unknown-linux-musl \
    --crates -n 12 2>/dev/null | sed -n '/File/,$p')
fi

echo "== servers" >&2
start_server() { # prints the port a server prints first
  "$@" >"$work/port.$$" 2>/dev/null &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$work/port.$$" ] && break; sleep 0.05; done
  head -1 "$work/port.$$"; rm -f "$work/port.$$"
}
http_port=$(start_server "$work/server")
grpc_port=$(start_server "$root/target/bench/release/healthprobe-bench-grpc-server")
# A CA and a server certificate it signed (a self-signed leaf is a CA used as an end entity,
# which webpki rightly refuses).
(
  cd "$work"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
    -keyout ca.key -out ca.pem
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost -keyout key.pem -out csr.pem
  printf 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost\n' >leaf.ext
  openssl x509 -req -in csr.pem -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile leaf.ext -out cert.pem
) >/dev/null 2>&1
https_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
daemon off; master_process off; pid $work/nginx/pid; error_log $work/nginx/error.log;
events { worker_connections 512; }
http { access_log off; client_body_temp_path $work/nginx/b; proxy_temp_path $work/nginx/p;
  fastcgi_temp_path $work/nginx/f; uwsgi_temp_path $work/nginx/u; scgi_temp_path $work/nginx/s;
  server { listen 127.0.0.1:$https_port ssl; ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem;
           location / { return 200 "ok"; } } }
EOF
/usr/sbin/nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$https_port") 2>/dev/null && break; sleep 0.05; done
touch "$work/heartbeat"

declare -A cmd=(
  [floor]="$work/floor $http_port"
  [hp-http]="$hp http http://127.0.0.1:$http_port/"
  [hp-tcp]="$hp tcp 127.0.0.1:$http_port"
  [wget]="/bin/busybox wget -q --spider http://127.0.0.1:$http_port/"
  [curl]="curl -fsS -o /dev/null http://127.0.0.1:$http_port/"
  [hp-https]="$hp http https://localhost:$https_port/ --tls-ca-cert $work/ca.pem"
  [curl-https]="curl -fsS -o /dev/null --cacert $work/ca.pem https://localhost:$https_port/"
  [hp-grpc]="$hp grpc 127.0.0.1:$grpc_port"
  [hp-file]="$hp file $work/heartbeat --max-age 1h"
)
order=(floor hp-http hp-tcp wget curl hp-https curl-https hp-grpc hp-file)
for name in "${order[@]}"; do
  ${cmd[$name]} >/dev/null 2>&1 || { echo "bench: $name failed: ${cmd[$name]}" >&2; exit 1; }
done

echo "== timing ($runs runs each)" >&2
args=()
for name in "${order[@]}"; do args+=(--command-name "$name" "${cmd[$name]}"); done
hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/times.json" "${args[@]}" >&2

echo "== memory" >&2
for name in "${order[@]}"; do
  for _ in 1 2 3 4 5; do /usr/bin/time -f %M ${cmd[$name]} 2>&1 >/dev/null | tail -1; done |
    sort -n | sed -n 3p >"$work/rss.$name"
done

# Private (anonymous) memory, sampled from /proc while a probe waits on a peer that accepts
# and never answers (its state is then fully set up: runtime, TLS config, buffers).
silent_port=$(start_server python3 -c 'import socket,time
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(64); print(s.getsockname()[1], flush=True)
c=[]
while True: c.append(s.accept()[0])')
for name in hp-http hp-https hp-grpc; do
  case $name in
    hp-http) args=(http "http://127.0.0.1:$silent_port/") ;;
    hp-https) args=(http "https://localhost:$silent_port/" --tls-ca-cert "$work/ca.pem") ;;
    hp-grpc) args=(grpc "127.0.0.1:$silent_port") ;;
  esac
  "$hp" --timeout 3s "${args[@]}" >/dev/null 2>&1 &
  probe=$!
  sleep 0.5
  awk '/^RssAnon/ {print $2}' "/proc/$probe/status" >"$work/anon.$name" 2>/dev/null || echo 0 >"$work/anon.$name"
  kill "$probe" 2>/dev/null; wait "$probe" 2>/dev/null || true
done

python3 - "$work" "$out" "$(stat -c %s "$hp")" "$arm_size" "$runs" "${order[@]}" <<'PY'
import json, os, platform, subprocess, sys, datetime
work, out, size, arm_size, runs, *order = sys.argv[1:]
times = {r["command"]: r for r in json.load(open(f"{work}/times.json"))["results"]}
rss = {n: int(open(f"{work}/rss.{n}").read().strip() or 0) for n in order}
anon = {n: (open(f"{work}/anon.{n}").read().strip() if os.path.exists(f"{work}/anon.{n}") else "") for n in order}
med = lambda n: times[n]["median"] * 1000
cpu = lambda n: (times[n]["user"] + times[n]["system"]) * 1e6  # CPU-seconds per million runs
floor, wget, curl = med("floor"), med("wget"), med("curl")
cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
rows = [
    "| command | median ms | stddev ms | × floor | × wget | × curl | CPU s / million | peak RSS KiB | private KiB |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
]
for n in order:
    t = times[n]
    rows.append(f"| {n} | {med(n):.2f} | {t['stddev']*1000:.2f} | {med(n)/floor:.2f} | {med(n)/wget:.2f} | "
                f"{med(n)/curl:.2f} | {cpu(n):.0f} | {rss[n]} | {anon[n] or '–'} |")
lines = [
    f"Measured {datetime.date.today()} on {os.cpu_count()} cores ({cpu_model}), "
    f"{platform.system()} {platform.release()}; {runs} runs per command after 20 warm-up runs, "
    "all in one hyperfine run (`bench/run.sh`).",
    "",
    f"Binary size (stripped, static musl): x86_64 {int(size):,} bytes; aarch64 "
    + (f"{int(arm_size):,} bytes." if arm_size.isdigit() else arm_size + "."),
    "",
    *rows,
    "",
    f"grpc vs healthprobe's own http: × {med('hp-grpc')/med('hp-http'):.2f}.",
    "floor = a static C client: connect, `GET / HTTP/1.0`, read the status line. "
    "peak RSS: GNU time, median of 5. private: RssAnon while waiting on a silent peer.",
]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
printf '\nLargest parts of the x86_64 binary (cargo bloat --crates, .text only):\n\n```\n%s\n```\n' "$bloat" >>"$out"
echo "== wrote $out" >&2
