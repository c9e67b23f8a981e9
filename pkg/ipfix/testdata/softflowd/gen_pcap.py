#!/usr/bin/env python3
"""Writes traffic.pcap: a few flows with known packet and byte counts.

Flows (IP lengths, which is what exporters count):
  A  TCP 10.0.0.1:40000 -> 192.0.2.10:443     10 packets x 100 bytes
  A' TCP 192.0.2.10:443 -> 10.0.0.1:40000      8 packets x 1500 bytes
  B  UDP 10.0.0.2:5353 -> 10.0.0.3:53          5 packets x 80 bytes
  C  ICMP echo 10.0.0.4 -> 10.0.0.5            3 packets x 84 bytes
  D  TCP [2001:db8::1]:1234 -> [2001:db8::2]:80 4 packets x 120 bytes
  E  200 UDP flows 10.1.0.i:(10000+i) -> 10.2.0.1:53 for i in 0..199,
     (i%5)+1 packets x (60+i%40) bytes each
Totals: 630 packets, 62,232 bytes (IPv6: 4 packets, 480 bytes); 204 flows
(A and A' are one bidirectional flow), 205 unidirectional records.
Packets are 10 ms apart from 2025-06-01 12:00:00 UTC.
"""
import struct

T0 = 1748779200
MAC = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02"


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(src, dst, proto, payload):
    total = 20 + len(payload)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 1, 0, 64, proto, 0,
                      bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return MAC + b"\x08\x00" + hdr + payload


def ipv6(src, dst, proto, payload):
    import ipaddress
    hdr = struct.pack("!IHBB16s16s", 0x60000000, len(payload), proto, 64,
                      ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed)
    return MAC + b"\x86\xdd" + hdr + payload


def tcp(sport, dport, flags, size):
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, flags, 65535, 0, 0) + b"\0" * (size - 20)


def udp(sport, dport, size):
    return struct.pack("!HHHH", sport, dport, size, 0) + b"\0" * (size - 8)


def icmp(size):
    return struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"\0" * (size - 8)


SYN, ACK, FIN, PSH = 0x02, 0x10, 0x01, 0x08


def main():
    packets = []
    for i in range(10):
        packets.append(ipv4("10.0.0.1", "192.0.2.10", 6, tcp(40000, 443, SYN if i == 0 else ACK | PSH, 80)))
        if i < 8:
            packets.append(ipv4("192.0.2.10", "10.0.0.1", 6, tcp(443, 40000, ACK, 1480)))
    for i in range(5):
        packets.append(ipv4("10.0.0.2", "10.0.0.3", 17, udp(5353, 53, 60)))
    for i in range(3):
        packets.append(ipv4("10.0.0.4", "10.0.0.5", 1, icmp(64)))
    for i in range(4):
        packets.append(ipv6("2001:db8::1", "2001:db8::2", 6, tcp(1234, 80, ACK, 80)))
    for i in range(200):
        for _ in range(i % 5 + 1):
            packets.append(ipv4("10.1.0.%d" % i, "10.2.0.1", 17, udp(10000 + i, 53, 40 + i % 40)))

    with open("traffic.pcap", "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for n, p in enumerate(packets):
            us = n * 10000
            f.write(struct.pack("<IIII", T0 + us // 1000000, us % 1000000, len(p), len(p)))
            f.write(p)
    def iplen(p):
        return len(p) - 14
    print(len(packets), "packets", sum(map(iplen, packets)), "bytes")


if __name__ == "__main__":
    main()
