#!/usr/bin/env python3
"""Drives a command through a real pty, as a person at a terminal would.

usage: pty-drive.py SCRIPT.json -- ARGV...

The command runs in a new session with the pty as its controlling terminal
(so a size change reaches it as SIGWINCH). SCRIPT is a list of steps:
  {"size": [ROWS, COLS]}            set the terminal's size
  {"send": "TEXT"}                  type TEXT
  {"hangup": true}                  close the terminal (the command gets SIGHUP)
                                    and wait for the command's end
  {"expect": "REGEX"}               read until REGEX matches what arrived since
                                    the last expect; print "match: GROUPS" (JSON)
  {"until": "REGEX", "send": "TEXT", "want": [..]}
                                    type TEXT, read until REGEX matches, and repeat
                                    until its groups equal "want" (each answer is
                                    waited for: a change that travels on another
                                    channel is seen once it has arrived)
Every read has one overall deadline. At the end the command's exit status is
printed as "exit: N"; a missed deadline prints what arrived and exits 2.
"""
import fcntl
import json
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time

DEADLINE_S = 60


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def main():
    sep = sys.argv.index("--")
    with open(sys.argv[1]) as f:
        steps = json.load(f)
    argv = sys.argv[sep + 1 :]
    master, slave = os.openpty()
    set_size(master, 24, 80)

    def ctty():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, preexec_fn=ctty, close_fds=True
    )
    os.close(slave)
    deadline = time.monotonic() + DEADLINE_S
    seen = b""

    def read_more(what):
        """The next bytes the terminal shows (b"" at its end), within the deadline."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                print("timeout waiting for %s; got %r" % (what, seen), flush=True)
                proc.kill()
                sys.exit(2)
            r, _, _ = select.select([master], [], [], left)
            if not r:
                continue
            try:
                return os.read(master, 4096)
            except OSError:
                return b""

    def read_until(pattern):
        nonlocal seen
        rx = re.compile(pattern.encode())
        while True:
            m = rx.search(seen)
            if m:
                seen = seen[m.end() :]
                return [g.decode() for g in m.groups()]
            chunk = read_more(repr(pattern))
            if not chunk:
                print("eof waiting for %r; got %r" % (pattern, seen), flush=True)
                proc.wait()
                print("exit: %d" % proc.returncode, flush=True)
                sys.exit(2)
            seen += chunk

    for step in steps:
        if "size" in step:
            set_size(master, *step["size"])
        if "until" in step:
            while True:
                os.write(master, step["send"].encode())
                got = read_until(step["until"])
                if got == step["want"]:
                    print("match: " + json.dumps(got), flush=True)
                    break
        elif "send" in step:
            os.write(master, step["send"].encode())
        if "expect" in step:
            print("match: " + json.dumps(read_until(step["expect"])), flush=True)
        if step.get("hangup"):
            os.close(master)
            try:
                proc.wait(max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                proc.kill()
                print("timeout waiting for the end after the hangup", flush=True)
                sys.exit(2)
            print("exit: %d" % proc.returncode, flush=True)
            return
    # Drain to the end so the command is never blocked on a full terminal.
    while True:
        chunk = read_more("the end")
        if not chunk:
            break
        seen += chunk
    proc.wait()
    print("exit: %d" % proc.returncode, flush=True)


main()
