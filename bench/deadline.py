#!/usr/bin/env python3
"""Deadline precision for bench/run.sh: runs each given command RUNS times in a row and
records how long after its --timeout each run exited.

    deadline.py --runs 100 --timeout-ms 500 --out FILE.json \
        --case NAME 'CMD ARGS...' [--full-stdout NAME 'CMD ...'] ...

Every case runs in its own thread (cases run side by side, each one's runs one after
another), so the whole set takes about RUNS x timeout however many cases there are. Elapsed
is from just before the fork to the moment the probe process itself has exited (waitpid), so
a helper process the probe leaves behind (the --log-to writer, stuck on a frozen file system)
does not count, exactly as an orchestrator that waits for the probe's exit would see it.
`--full-stdout` gives the probe a stdout pipe that is already full and never read.

A run still alive after GUARD_S seconds is killed and recorded with that elapsed time (the
deadline was missed by far). Writes {name: {"elapsed_ms": [...], "codes": {code: count},
"line": first line of one run's output}} to --out.
"""

import argparse
import fcntl
import json
import os
import select
import shlex
import subprocess
import tempfile
import threading
import time

GUARD_S = 10.0


def full_pipe():
    """A pipe whose buffer is full: (read end kept open and never read, write end)."""
    r, w = os.pipe()
    flags = fcntl.fcntl(w, fcntl.F_GETFL)
    fcntl.fcntl(w, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    try:
        while True:
            os.write(w, b"x" * 65536)
    except BlockingIOError:
        pass
    fcntl.fcntl(w, fcntl.F_SETFL, flags)  # the probe gets a blocking fd, as a shell gives
    return r, w


def run_case(name, argv, runs, full_stdout, results):
    elapsed, codes, line = [], {}, ""
    for i in range(runs):
        with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
            r = w = None
            stdout = out
            if full_stdout:
                r, w = full_pipe()
                stdout = w
            t0 = time.monotonic()
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=err)
            # Woken by the exit itself (a pidfd polls readable then), not by
            # Popen.wait(timeout)'s sleep-and-retry loop, which oversleeps by up to 50 ms.
            pidfd = os.pidfd_open(p.pid)
            exited = select.poll()
            exited.register(pidfd, select.POLLIN)
            if exited.poll(GUARD_S * 1000):
                dt = time.monotonic() - t0
                code = p.wait()
            else:
                p.kill()
                p.wait()
                dt, code = GUARD_S, "killed"
            os.close(pidfd)
            for fd in (r, w):
                if fd is not None:
                    os.close(fd)
            elapsed.append(dt * 1000.0)
            codes[str(code)] = codes.get(str(code), 0) + 1
            if i == 0:
                err.seek(0)
                out.seek(0)
                text = (err.read() + out.read()).decode("utf-8", "replace").strip()
                line = text.splitlines()[-1] if text else ""
    results[name] = {"elapsed_ms": elapsed, "codes": codes, "line": line}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--timeout-ms", type=float, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--case", nargs=2, action="append", default=[], metavar=("NAME", "CMD"))
    ap.add_argument("--full-stdout", nargs=2, action="append", default=[], metavar=("NAME", "CMD"))
    args = ap.parse_args()
    results = {}
    threads = []
    for cases, full in ((args.case, False), (args.full_stdout, True)):
        for name, cmd in cases:
            t = threading.Thread(target=run_case, args=(name, shlex.split(cmd), args.runs, full, results))
            t.start()
            threads.append(t)
    for t in threads:
        t.join()
    for r in results.values():
        r["timeout_ms"] = args.timeout_ms
    with open(args.out, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
