#!/usr/bin/env bash
# The two hostile environments of bench/run.sh's deadline cases, each set up inside a
# namespace of its own so nothing outside it is touched. run.sh calls:
#
#   unshare -n -m --propagation private bench/isolate.sh blackhole-resolver CMD...
#       A network namespace with only loopback, and (in a private mount namespace)
#       /etc/resolv.conf bind-mounted to `nameserver 127.0.0.1`, where a UDP socket on port 53
#       reads every query and never answers. Port 53 is fixed, but only inside this namespace.
#
#   unshare -m --propagation private bench/isolate.sh frozen-fs IMAGE MOUNTPOINT CMD...
#       IMAGE (an ext4 file system in a file) loop-mounted at MOUNTPOINT, visible only in this
#       mount namespace, with an empty MOUNTPOINT/log, then frozen (fsfreeze -f): every write
#       to it blocks until it is thawed. It is thawed on every way out (exit, SIGTERM, SIGINT,
#       SIGHUP); run.sh's own cleanup also thaws it from outside (nsenter) before it stops
#       this script, in case this script was stopped hard.
#
# CMD runs in the environment; its exit status is this script's.
set -uo pipefail
mode=$1
shift
case $mode in
  blackhole-resolver)
    ip link set lo up
    tmp=$(mktemp -d)
    printf 'nameserver 127.0.0.1\n' >"$tmp/resolv.conf"
    mount --bind "$tmp/resolv.conf" /etc/resolv.conf
    # The sink says "ready" once bound, so CMD never races it.
    exec 3< <(exec python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
print("ready", flush=True)
while True:
    s.recv(4096)
')
    sink=$!
    read -r -t 10 ready <&3 || ready=
    if [ "$ready" != ready ]; then
      echo "isolate.sh: the black-hole resolver did not start" >&2
      exit 2
    fi
    "$@"
    rc=$?
    kill "$sink" 2>/dev/null
    wait "$sink" 2>/dev/null
    rm -rf "$tmp"
    exit "$rc"
    ;;
  frozen-fs)
    image=$1 mnt=$2
    shift 2
    mount -o loop "$image" "$mnt" || exit 2
    thaw() { fsfreeze -u "$mnt" 2>/dev/null || true; }
    # Thawed first, then unmounted (lazily if the probes' --log-to writers still hold it;
    # the loop device detaches itself when the last reference goes).
    child=
    trap '[ -z "$child" ] || kill "$child" 2>/dev/null; thaw; umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true' EXIT
    trap 'exit 143' TERM INT HUP
    : >"$mnt/log"
    sync -f "$mnt/log"
    fsfreeze -f "$mnt" || exit 2
    # In the background and waited for, so a signal reaches the traps at once.
    "$@" &
    child=$!
    wait "$child"
    rc=$?
    child=
    exit "$rc"
    ;;
  *)
    echo "isolate.sh: unknown mode $mode" >&2
    exit 2
    ;;
esac
