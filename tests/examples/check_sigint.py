#!/usr/bin/env python3
"""Ctrl-C against real example processes: a real SIGINT, sent to a real child process.

  check_sigint.py CTRL_C_EXAMPLE [OTHER_EXAMPLE ...]

CTRL_C_EXAMPLE (tests/examples/ctrl_c.cpp) is started twice. By default it must print its
clean-up lines and then die by SIGINT (no abort, no "terminate called"); with --handle it must
print the same lines, then the KeyboardInterrupt line, and exit with status 130. The SIGINT is
sent once the program printed "ready" (its workers are waiting then: a handshake, not a sleep).
Every OTHER_EXAMPLE gets a SIGINT early in its run: whenever it lands, the program must end
normally (status 0) or by SIGINT — never abort. Prints `ok:`/`FAIL:` per check; exit status 1
if any failed.
"""
import signal
import subprocess
import sys
import time

CLEANUP = [
    "first: cleaned up (signal: SIGINT)",
    "second: cleaned up (shutdown: loop shutdown)",
]
failures = 0


def report(ok, name, detail=""):
    global failures
    print(("ok: " if ok else "FAIL: ") + name + ("" if ok else "\n" + detail))
    if not ok:
        failures += 1


def interrupt_when_ready(argv):
    """Starts argv, sends SIGINT after its "ready" line, returns (status, stdout, stderr)."""
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = child.stdout.readline()
    if first == "ready\n":
        child.send_signal(signal.SIGINT)
    try:
        out, err = child.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        return None, first + out, err
    return child.returncode, first + out, err


def check_ctrl_c(program):
    status, out, err = interrupt_when_ready([program])
    lines = out.splitlines()
    detail = f"status {status}\nstdout:\n{out}\nstderr:\n{err}"
    report(status == -signal.SIGINT and lines == ["ready"] + CLEANUP and "terminate" not in err,
           "ctrl_c: cleaned up, then killed by SIGINT", detail)
    status, out, err = interrupt_when_ready([program, "--handle"])
    lines = out.splitlines()
    detail = f"status {status}\nstdout:\n{out}\nstderr:\n{err}"
    report(status == 130 and lines == ["ready"] + CLEANUP +
           ["main: SIGINT: interrupted, exiting with 130"],
           "ctrl_c --handle: cleaned up, KeyboardInterrupt, status 130", detail)


def check_other(program):
    child = subprocess.Popen([program], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    time.sleep(0.05)  # any moment will do: both endings below are correct
    if child.poll() is None:
        child.send_signal(signal.SIGINT)
    try:
        out, err = child.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        report(False, f"{program}: ends after SIGINT", "still running 60 s after SIGINT")
        return
    ok = child.returncode in (0, -signal.SIGINT) and "terminate called" not in err
    report(ok, f"{program.rsplit('/', 1)[-1]}: ends normally or by SIGINT, never aborts",
           f"status {child.returncode}\nstdout:\n{out}\nstderr:\n{err}")


def main():
    check_ctrl_c(sys.argv[1])
    for program in sys.argv[2:]:
        check_other(program)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
