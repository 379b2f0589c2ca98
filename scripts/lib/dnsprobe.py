#!/usr/bin/env python3
"""DNS probes for scripts/bench-scale.sh, over UDP, standard library only.

  dnsprobe.py wait SERVER NAME OUTFILE   ask for NAME's A record every 2 ms
      until an answer holds an address; write the time.time() of that
      answer to OUTFILE.
  dnsprobe.py gone SERVER NAME OUTFILE   the same until an answer holds no
      address (the name went away).
  dnsprobe.py latency SERVER NAMESFILE N  ask N names from NAMESFILE one at
      a time; print the median and p99 latency in milliseconds.
"""
import random
import socket
import struct
import sys
import time


def query(name, qid):
    header = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    return header + q + struct.pack(">HH", 1, 1)


def ask(sock, server, name, timeout=1.0):
    qid = random.randrange(65536)
    sock.settimeout(timeout)
    sock.sendto(query(name, qid), (server, 53))
    while True:
        data, _ = sock.recvfrom(4096)
        if len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid:
            return struct.unpack(">H", data[6:8])[0]  # answers


def wait(server, name, outfile, gone=False):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if (ask(sock, server, name, 0.5) > 0) != gone:
                with open(outfile, "w") as f:
                    f.write("%.6f\n" % time.time())
                return 0
        except socket.timeout:
            pass
        time.sleep(0.002)
    return 1


def latency(server, namesfile, n):
    names = [l.split()[0] for l in open(namesfile) if l.strip()]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        ask(sock, server, random.choice(names))
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    print("%.3f %.3f" % (lat[len(lat) // 2], lat[int(len(lat) * 0.99)]))
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "wait":
        sys.exit(wait(sys.argv[2], sys.argv[3], sys.argv[4]))
    if cmd == "gone":
        sys.exit(wait(sys.argv[2], sys.argv[3], sys.argv[4], gone=True))
    if cmd == "latency":
        sys.exit(latency(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    sys.exit("usage: see the file's doc")
