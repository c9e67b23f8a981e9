#!/usr/bin/env python3
"""Receives UDP datagrams on 127.0.0.1:PORT until idle for 3 s and writes
them to OUT as a sequence of (uint16 big-endian length, payload)."""
import socket, struct, sys

port, out = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", port))
s.settimeout(10)
n = 0
with open(out, "wb") as f:
    while True:
        try:
            d = s.recv(65535)
        except socket.timeout:
            break
        f.write(struct.pack("!H", len(d)) + d)
        n += 1
        s.settimeout(3)
print(out, n, "datagrams")
