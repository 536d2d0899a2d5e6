#!/usr/bin/env python3
"""Holds N idle Kafka connections to a broker (for `make bench`'s scale case).

Each connection sends one ApiVersions v0 request and reads its answer, so it
is a real client connection, then stays idle. Prints "ready N" once all are
open, then waits for SIGTERM. On SIGTERM it checks that every connection is
still open (the broker closed none) and prints "alive N", then exits.

    bench/idle_conns.py HOST PORT N
"""
import signal
import socket
import struct
import sys
import time

host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)

client_id = b"runnel-idle"
# ApiVersions v0: api_key 18, version 0, correlation id, client id (int16 string)
body = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
req = struct.pack(">i", len(body)) + body

socks = []
for i in range(n):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(req)
    hdr = b""
    while len(hdr) < 4:
        chunk = s.recv(4 - len(hdr))
        if not chunk:
            sys.exit(f"idle_conns: connection {i} closed by the broker")
        hdr += chunk
    size = struct.unpack(">i", hdr)[0]
    got = 0
    while got < size:
        chunk = s.recv(min(65536, size - got))
        if not chunk:
            sys.exit(f"idle_conns: connection {i} closed mid-answer")
        got += len(chunk)
    s.setblocking(False)
    socks.append(s)
print(f"ready {len(socks)}", flush=True)
while not stop:
    time.sleep(0.1)
alive = 0
for s in socks:
    try:
        if s.recv(1) == b"":
            continue  # closed by the broker
    except BlockingIOError:
        pass
    except OSError:
        continue
    alive += 1
print(f"alive {alive}", flush=True)
