#!/usr/bin/env python3
"""Stands in for systemd's notify socket: binds a unix datagram socket and
appends every line of every message it receives to a log, until killed."""
import os
import socket
import sys

path, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(log, "a", buffering=1) as out:
    out.write("LISTENING\n")
    while True:
        data = s.recv(65536)
        for line in data.decode("utf-8", "replace").splitlines():
            out.write(line + "\n")
