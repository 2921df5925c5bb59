#!/usr/bin/env python3
"""A seccomp notification proxy for the tests, speaking LXC's format.

Usage: seccomp-proxy.py SOCKET LOG ERRNO. Listens on the SOCK_SEQPACKET
socket SOCKET, prints "ready", and answers every forwarded notification
with -ERRNO, appending what it got to LOG as one JSON line. The message is
LXC's struct seccomp_notify_proxy_msg (u64 reserved, pid_t monitor_pid,
pid_t init_pid, struct seccomp_notif_sizes, u64 cookie_len), then struct
seccomp_notif, struct seccomp_notif_resp and the cookie, with three fds.
"""
import json
import os
import socket
import struct
import sys

HEADER = struct.Struct("=QiiHHH2xQ")
NOTIF = struct.Struct("=QIIiIQ6Q")  # id, pid, flags, data: nr, arch, ip, args[6]
RESP = struct.Struct("=QqiI")  # id, val, error, flags


def main():
    path, log, err = sys.argv[1], sys.argv[2], int(sys.argv[3])
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(path)
    srv.listen(1)
    print("ready", flush=True)
    conn, _ = srv.accept()
    while True:
        data, fds, _, _ = socket.recv_fds(conn, 65536, 3)
        if not data:
            return
        _, monitor, init, s_notif, s_resp, _, cookie_len = HEADER.unpack_from(data)
        req = data[HEADER.size : HEADER.size + s_notif]
        rid, pid, _, nr, arch, _, *args = NOTIF.unpack_from(req)
        cookie = data[HEADER.size + s_notif + s_resp :][:cookie_len].decode()
        modes = [os.readlink(f"/proc/self/fd/{fd}") for fd in fds]
        for fd in fds:
            os.close(fd)
        with open(log, "a") as f:
            f.write(json.dumps({"monitor": monitor, "init": init, "pid": pid, "nr": nr,
                                "cookie": cookie, "fds": modes}) + "\n")
        resp = RESP.pack(rid, 0, -err, 0).ljust(s_resp, b"\0")
        conn.send(HEADER.pack(0, monitor, init, s_notif, s_resp, 0, 0) + req + resp)


if __name__ == "__main__":
    main()
