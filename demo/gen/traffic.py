#!/usr/bin/env python3
"""Writes primary.pcap and secondary.pcap: the traffic two ExpressRoute edge routers see,
with known packet and byte counts (IP lengths, what exporters count).

Hub and spoke: on-premises 192.168.0.0/16, spokes 10.1.0.0/16 and 10.2.0.0/16, link
addresses 169.254.0.0/29 (primary) and 169.254.0.8/29 (secondary).

Primary edge (exporter 127.0.0.11), from 2025-06-02 09:00:00 UTC:
  P1  TCP 192.168.1.10:50000 -> 10.1.0.4:443   20 x 500 B  (SYN first)   at 09:00
  P1' TCP 10.1.0.4:443 -> 192.168.1.10:50000   20 x 1500 B               at 09:00
  P2  TCP 192.168.2.20:51000 -> 10.2.0.5:80    10 x 400 B                at 09:05
  P2' TCP 10.2.0.5:80 -> 192.168.2.20:51000    10 x 1400 B               at 09:05
  P3  TCP 169.254.0.1:179 -> 169.254.0.2:40179  6 x 59 B  (BGP)          at 09:00
  P3' TCP 169.254.0.2:40179 -> 169.254.0.1:179  6 x 59 B                 at 09:00
  P4  ICMP echo 169.254.0.1 -> 169.254.0.2      5 x 84 B                 at 09:01
Secondary edge (exporter 127.0.0.12):
  S1  TCP 10.1.0.4:52000 -> 10.2.0.5:1433       8 x 600 B (spoke to spoke, hairpin) at 09:10
  S1' TCP 10.2.0.5:1433 -> 10.1.0.4:52000       8 x 200 B                at 09:10
  S2  TCP 192.168.1.11:53000 -> 10.1.0.6:22     4 x 200 B                at 09:11
  S2' TCP 10.1.0.6:22 -> 192.168.1.11:53000     4 x 300 B                at 09:11
  S3  TCP 169.254.0.9:179 -> 169.254.0.10:40180 4 x 59 B  (BGP)          at 09:10
Towards Azure 14,800 B, from Azure 45,200 B, spoke to spoke 6,400 B, control plane 1,536 B.
"""
import os
import struct
import sys

# The Ethernet/IPv4 framing of the softflowd fixtures' generator.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "pkg", "ipfix", "testdata", "softflowd"))
from gen_pcap import ipv4  # noqa: E402

T0 = 1748854800  # 2025-06-02 09:00:00 UTC


SYN, ACK, PSH = 0x02, 0x10, 0x08


def tcp(sport, dport, flags, iplen):
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, flags, 65535, 0, 0) + b"\0" * (iplen - 40)


def icmp(iplen):
    return struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"\0" * (iplen - 28)


def conversation(t, a, ap, b, bp, n_ab, len_ab, n_ba, len_ba, syn=True):
    """Packets of a TCP conversation starting at t, alternating, 100 ms apart."""
    out = []
    for i in range(max(n_ab, n_ba)):
        if i < n_ab:
            out.append((t + i * 0.2, ipv4(a, b, 6, tcp(ap, bp, SYN if (syn and i == 0) else ACK | PSH, len_ab))))
        if i < n_ba:
            out.append((t + i * 0.2 + 0.1, ipv4(b, a, 6, tcp(bp, ap, (SYN | ACK) if (syn and i == 0) else ACK, len_ba))))
    return out


def write(name, pkts):
    pkts.sort(key=lambda p: p[0])
    with open(name, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, p in pkts:
            us = int(round(t * 1e6))
            f.write(struct.pack("<IIII", us // 1000000, us % 1000000, len(p), len(p)))
            f.write(p)


primary = []
primary += conversation(T0, "192.168.1.10", 50000, "10.1.0.4", 443, 20, 500, 20, 1500)
primary += conversation(T0 + 300, "192.168.2.20", 51000, "10.2.0.5", 80, 10, 400, 10, 1400)
primary += conversation(T0 + 2, "169.254.0.1", 179, "169.254.0.2", 40179, 6, 59, 6, 59, syn=False)
primary += [(T0 + 60 + i, ipv4("169.254.0.1", "169.254.0.2", 1, icmp(84))) for i in range(5)]
secondary = []
secondary += conversation(T0 + 600, "10.1.0.4", 52000, "10.2.0.5", 1433, 8, 600, 8, 200)
secondary += conversation(T0 + 660, "192.168.1.11", 53000, "10.1.0.6", 22, 4, 200, 4, 300)
secondary += [(T0 + 605 + i, ipv4("169.254.0.9", "169.254.0.10", 6, tcp(179, 40180, ACK | PSH, 59))) for i in range(4)]
write("primary.pcap", primary)
write("secondary.pcap", secondary)
