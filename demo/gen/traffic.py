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

`traffic.py R` repeats every conversation's packets R times (R x the counts above, same
spacing) and, for R > 1, orders the two directions' packets at random (seeded) instead of
alternating them and jitters every packet's time, so that an exporter sampling every Nth
packet does not alias with a regular pattern: the sampled end-to-end test exports a larger capture sampled 1 in N.
"""
import os
import random
import struct
import sys

# The Ethernet/IPv4 framing of the softflowd fixtures' generator.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "pkg", "ipfix", "testdata", "softflowd"))
from gen_pcap import ipv4  # noqa: E402

T0 = 1748854800  # 2025-06-02 09:00:00 UTC
R = int(sys.argv[1]) if len(sys.argv) > 1 else 1
RNG = random.Random(13)


SYN, ACK, PSH = 0x02, 0x10, 0x08


def tcp(sport, dport, flags, iplen):
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, flags, 65535, 0, 0) + b"\0" * (iplen - 40)


def icmp(iplen):
    return struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"\0" * (iplen - 28)


def conversation(t, a, ap, b, bp, n_ab, len_ab, n_ba, len_ba, syn=True):
    """Packets of a TCP conversation starting at t, alternating, 100 ms apart."""
    out = []
    n_ab, n_ba = n_ab * R, n_ba * R
    if R > 1:
        rest = ["ab"] * (n_ab - 1) + ["ba"] * n_ba
        RNG.shuffle(rest)
        for i, d in enumerate(["ab"] + rest):
            at = t + i * 0.1 + RNG.random() * 0.1  # jitter: conversations interleave at random
            if d == "ab":
                out.append((at, ipv4(a, b, 6, tcp(ap, bp, SYN if (syn and i == 0) else ACK | PSH, len_ab))))
            else:
                out.append((at, ipv4(b, a, 6, tcp(bp, ap, ACK, len_ba))))
        return out
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
primary += [(T0 + 60 + i + (RNG.random() if R > 1 else 0), ipv4("169.254.0.1", "169.254.0.2", 1, icmp(84))) for i in range(5 * R)]
secondary = []
secondary += conversation(T0 + 600, "10.1.0.4", 52000, "10.2.0.5", 1433, 8, 600, 8, 200)
secondary += conversation(T0 + 660, "192.168.1.11", 53000, "10.1.0.6", 22, 4, 200, 4, 300)
secondary += [(T0 + 605 + i + (RNG.random() if R > 1 else 0), ipv4("169.254.0.9", "169.254.0.10", 6, tcp(179, 40180, ACK | PSH, 59))) for i in range(4 * R)]
write("primary.pcap", primary)
write("secondary.pcap", secondary)


# ---------------------------------------------------------------------------------------
# The same packets as Azure's flow logs record them (VNet flow logs v4 of the GatewaySubnet
# and both spokes, NSG flow logs v2 of spoke 2's NSG), in the Network Watcher blob layout
# under ./flowlogs, and the generator's truth (./truth.json): what actually crossed, per
# direction, per link and per conversation, summed from the packets themselves.
import ipaddress  # noqa: E402
import json  # noqa: E402
import datetime  # noqa: E402

SUB = "6F1C2A4E-8B3D-4C7A-9E21-5D0B7A3C9F10"
AZURE = [ipaddress.ip_network(n) for n in ("10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16")]
ONPREM = ipaddress.ip_network("192.168.0.0/16")
GATEWAY = {
    "target": "/subscriptions/%s/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-hub/subnets/GatewaySubnet" % SUB.lower(),
    "flowlog": "FL-HUB-GATEWAYSUBNET", "mac": "000D3A4C0A01",
}
# Azure VMs: address -> (VNet flow log, target, MAC, NSG or None)
NICS = {
    "10.1.0.4": ("FL-SPOKE1", "vnet-spoke1", "rg-spoke1", "000D3A2B1001", None),
    "10.1.0.6": ("FL-SPOKE1", "vnet-spoke1", "rg-spoke1", "000D3A2B1002", None),
    "10.2.0.5": ("FL-SPOKE2", "vnet-spoke2", "rg-spoke2", "000D3A2B2001", "NSG-SPOKE2-DB"),
}


def side(a):
    ip = ipaddress.ip_address(a)
    if any(ip in n for n in AZURE):
        return "azure"
    if ip in ONPREM:
        return "onprem"
    return "other"


def parse(frame):
    ip = frame[14:]
    src, dst = ".".join(map(str, ip[12:16])), ".".join(map(str, ip[16:20]))
    proto, iplen = ip[9], struct.unpack("!H", ip[2:4])[0]
    sport = dport = 0
    if proto == 6:
        sport, dport = struct.unpack("!HH", ip[20:24])
    return src, dst, proto, sport, dport, iplen


def conversations(pkts):
    """Pairs the packets into conversations; the first packet's sender is the initiator."""
    convs = {}
    for t, frame in sorted(pkts, key=lambda p: p[0]):
        src, dst, proto, sport, dport, iplen = parse(frame)
        key = (proto,) + tuple(sorted([(src, sport), (dst, dport)]))
        c = convs.get(key)
        if c is None:
            c = convs[key] = {"src": src, "dst": dst, "sport": sport, "dport": dport, "proto": proto,
                              "first": t, "last": t, "pf": 0, "bf": 0, "pr": 0, "br": 0}
        c["last"] = t
        if src == c["src"] and sport == c["sport"]:
            c["pf"] += 1
            c["bf"] += iplen
        else:
            c["pr"] += 1
            c["br"] += iplen
    return list(convs.values())


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def vnet_tuple(c, direction, t, state, counts):
    return "%d,%s,%s,%d,%d,%d,%s,%s,NX,%s" % (int(t * 1000), c["src"], c["dst"], c["sport"], c["dport"], c["proto"], direction, state, counts)


def write_flowlogs(convs):
    blobs = {}  # path -> records

    def vnet(flowlog, target, mac, c, direction, rule):
        path = "insights-logs-flowlogflowevent/flowLogResourceID=/%s_NETWORKWATCHERRG/NETWORKWATCHER_WESTEUROPE_%s/y=2025/m=06/d=02/h=09/m=00/macAddress=%s/PT1H.json" % (SUB, flowlog, mac)
        counts = "%d,%d,%d,%d" % (c["pf"], c["bf"], c["pr"], c["br"])
        blobs.setdefault(path, []).append({
            "time": iso(c["last"] + 20), "flowLogVersion": 4, "flowLogGUID": "3c2b1a09-5d6e-4f70-8a9b-0c1d2e3f4a5b",
            "macAddress": mac, "category": "FlowLogFlowEvent",
            "flowLogResourceID": "/SUBSCRIPTIONS/%s/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_WESTEUROPE/FLOWLOGS/%s" % (SUB, flowlog),
            "targetResourceID": target, "operationName": "FlowLogFlowEvent",
            "flowRecords": {"flows": [{"aclID": "00000000-1111-2222-3333-444444444400", "flowGroups": [{"rule": rule, "flowTuples": [
                vnet_tuple(c, direction, c["first"], "B", "0,0,0,0"),
                vnet_tuple(c, direction, c["last"], "E", counts)]}]}]}})

    def nsg(name, rg, mac, c, direction):
        path = "insights-logs-networksecuritygroupflowevent/resourceId=/SUBSCRIPTIONS/%s/RESOURCEGROUPS/%s/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/%s/y=2025/m=06/d=02/h=09/m=00/macAddress=%s/PT1H.json" % (SUB, rg.upper(), name, mac)
        tup = "%d,%s,%s,%d,%d,T,%s,A,%%s" % (int(c["first"]), c["src"], c["dst"], c["sport"], c["dport"], direction)
        blobs.setdefault(path, []).append({
            "time": iso(c["last"] + 20), "systemId": "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9", "macAddress": mac,
            "category": "NetworkSecurityGroupFlowEvent",
            "resourceId": "/SUBSCRIPTIONS/%s/RESOURCEGROUPS/%s/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/%s" % (SUB, rg.upper(), name),
            "operationName": "NetworkSecurityGroupFlowEvents",
            "properties": {"Version": 2, "flows": [{"rule": "DefaultRule_AllowVnetInBound", "flows": [{"mac": mac, "flowTuples": [
                tup % "B,,,,", (tup.replace(str(int(c["first"])), str(int(c["last"])), 1)) % ("E,%d,%d,%d,%d" % (c["pf"], c["bf"], c["pr"], c["br"]))]}]}]}})

    for c in convs:
        s, d = side(c["src"]), side(c["dst"])
        if "azure" not in (s, d):
            continue  # on the link between the edge routers and the MSEE: no flow log sees it
        # The ExpressRoute gateway sees traffic from on-premises and spoke-to-spoke traffic
        # hairpinned through the MSEE; Azure-initiated traffic towards on-premises bypasses it.
        if s == "onprem" or (s == "azure" and d == "azure"):
            vnet(GATEWAY["flowlog"], GATEWAY["target"], GATEWAY["mac"], c, "I", "DefaultRule_AllowVnetInBound")
        for addr, direction in ((c["src"], "O"), (c["dst"], "I")):
            if addr not in NICS:
                continue
            flowlog, vnet_name, rg, mac, nsg_name = NICS[addr]
            target = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/virtualNetworks/%s" % (SUB.lower(), rg, vnet_name)
            vnet(flowlog, target, mac, c, direction, "DefaultRule_AllowVnetInBound" if direction == "I" else "DefaultRule_AllowVnetOutBound")
            if nsg_name:
                nsg(nsg_name, rg, mac, c, direction)
    for path, records in blobs.items():
        os.makedirs(os.path.join("flowlogs", os.path.dirname(path)), exist_ok=True)
        with open(os.path.join("flowlogs", path), "w") as f:
            f.write('{"records":[' + ",".join(json.dumps(r, separators=(",", ":")) for r in records) + "]}")


def truth(links):
    """What crossed, from the packets: bytes per direction, per link, per conversation."""
    out = {"bytes_per_direction": {}, "bytes_per_link": {}, "conversations": []}
    dirs = out["bytes_per_direction"]
    for link, pkts in links.items():
        for _, frame in pkts:
            src, dst, _, _, _, iplen = parse(frame)
            s, d = side(src), side(dst)
            k = {("onprem", "azure"): "to_azure", ("azure", "onprem"): "from_azure",
                 ("azure", "azure"): "azure_internal", ("onprem", "onprem"): "onprem_internal"}.get((s, d), "unknown")
            dirs[k] = dirs.get(k, 0) + iplen
            out["bytes_per_link"][link] = out["bytes_per_link"].get(link, 0) + iplen
        for c in conversations(pkts):
            out["conversations"].append({"client": c["src"], "server": c["dst"], "server_port": c["dport"],
                                         "protocol": c["proto"], "bytes": c["bf"] + c["br"], "packets": c["pf"] + c["pr"],
                                         "forward_bytes": c["bf"], "forward_packets": c["pf"],
                                         "reverse_bytes": c["br"], "reverse_packets": c["pr"]})
    with open("truth.json", "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")


write_flowlogs(conversations(primary) + conversations(secondary))
truth({"primary": primary, "secondary": secondary})
