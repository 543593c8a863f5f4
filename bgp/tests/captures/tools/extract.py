#!/usr/bin/env python3
"""Turn the pcaps of one capture phase into fixtures.

For every TCP connection and direction in WORK/*.pcap:
  <out>/<scenario>/<sender>-to-<receiver>.bin         exact TCP payload byte stream
  <out>/<scenario>/<sender>-to-<receiver>.tshark.json  tshark's dissection, one object per BGP message
and the entries of <out>/manifest.json for those files (entries of other
phases are kept).

The byte stream is rebuilt from the TCP sequence numbers (each byte placed at
its offset from the ISN), so retransmitted or overlapping segments cannot
duplicate data; holes or conflicting overlaps abort the run.
"""
import argparse
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from collections import OrderedDict

# ------------------------------------------------------------------ topology
DAEMON_OF = {}
for d, addrs in {
    "frr": ["192.0.2.1", "2001:db8:0:12::1", "203.0.113.1", "2001:db8:0:13::1"],
    "bird": ["192.0.2.2", "2001:db8:0:12::2", "198.51.100.1", "2001:db8:0:23::1"],
    "gobgp": ["198.51.100.2", "2001:db8:0:23::2", "203.0.113.2", "2001:db8:0:13::2"],
}.items():
    for a in addrs:
        DAEMON_OF[str(ipaddress.ip_address(a))] = d

# phases whose sessions run over both transports get one scenario dir per transport
SPLIT_BY_TRANSPORT = {"lifecycle", "addpath"}

DESCRIPTIONS = {
    "lifecycle": (
        "eBGP session over {transport} transport carrying {fam}-unicast only; graceful restart (and "
        "long-lived GR) on, so OPENs carry rich capability sets and End-of-RIB markers appear. "
        "Each daemon originates route set a (4 prefixes, one attribute set: communities, large "
        "communities, route targets, MED, AS_PATH prepended twice in export policy) and route set b "
        "(2 prefixes, origin incomplete, one community); routes learned from the other peers are "
        "passed on. Mid-session set b is withdrawn by every originator, then every daemon asks "
        "each peer for a ROUTE-REFRESH (GoBGP cannot send one, see README), and finally FRR shuts "
        "its sessions to BIRD down, BIRD its sessions to GoBGP and GoBGP its sessions to FRR, each "
        "with an RFC 9003 shutdown communication (Cease/Administrative Shutdown)."),
    "addpath": (
        "ADD-PATH over {transport} transport ({fam}-unicast): all three daemons originate "
        "10.244.200.0/24 / fd00:10:244:200::/64 besides their own routes; add-path is configured "
        "FRR tx -> BIRD rx, BIRD tx -> GoBGP rx, GoBGP tx -> FRR rx, so streams in those "
        "directions carry path identifiers and several paths for the common prefix. After "
        "convergence GoBGP withdraws its copy of the common prefix (path-id specific withdrawals)."),
    "as4-off": (
        "BIRD runs as AS 64502 with `enable as4 off` on both sessions (no 4-octet AS capability), "
        "so FRR (AS 4200000001) and GoBGP (AS 4200000003) send my_as 23456 (AS_TRANS) in their OPEN "
        "to BIRD and AS_PATH with AS_TRANS plus AS4_PATH (FRR also an aggregate 10.244.0.0/16 with "
        "AS_SET, AGGREGATOR/AS4_AGGREGATOR; GoBGP's routes carry AGGREGATOR -> AS4_AGGREGATOR); "
        "BIRD sends 2-octet AS_PATHs, with AS4_PATH for paths containing 4-octet ASNs. The "
        "FRR <-> GoBGP session is a normal 4-octet session. IPv4 transport, ipv4-unicast."),
    "bad-peer-as": (
        "Error NOTIFICATION: in every pair the passive side is configured to expect AS 4200000009, "
        "so it answers the active side's OPEN with NOTIFICATION OPEN Message Error / Bad Peer AS "
        "(2/2). FRR is the detector for BIRD, BIRD for GoBGP, GoBGP for FRR. IPv4 transport."),
    "extended-nexthop": (
        "FRR <-> BIRD over IPv6 transport carrying both ipv4-unicast and ipv6-unicast with the "
        "RFC 8950 extended next hop capability on both sides: IPv4 NLRI travel in MP_REACH_NLRI "
        "(AFI 1/SAFI 1) with IPv6 next hops. Extended messages (RFC 8654) advertised by both."),
    "bulk": (
        "Bulk: FRR and BIRD each originate 2000 IPv4 /28s in a single attribute set (export only "
        "locally originated routes; GoBGP originates nothing and only sends OPEN/KEEPALIVE/End-of-RIB), "
        "so packed UPDATEs appear: FRR fills 4096-octet UPDATEs towards GoBGP and sends one "
        ">4096-octet UPDATE to BIRD (both advertised extended messages); BIRD sends UPDATEs of "
        "256 prefixes. IPv4 transport."),
}

# Observations about particular streams (phase, sender, receiver; None = any).
NOTES = [
    ("lifecycle", "gobgp", None,
     "No ROUTE-REFRESH from GoBGP: `gobgp neighbor X softresetin` only re-applies import policy to "
     "GoBGP's stored Adj-RIB-In and sends nothing. GoBGP answers the peer's ROUTE-REFRESH by "
     "re-sending its table followed by another End-of-RIB (it has no enhanced route refresh)."),
    ("lifecycle", "frr", "bird",
     "Enhanced route refresh negotiated: FRR's answer to BIRD's ROUTE-REFRESH is bracketed by BoRR "
     "(subtype 1) and EoRR (subtype 2). FRR may send its End-of-RIB before its initial routes "
     "(timing-dependent), and it advertises BIRD's own routes back to BIRD."),
    ("lifecycle", "bird", "frr",
     "Enhanced route refresh negotiated: BIRD's answer to FRR's ROUTE-REFRESH is bracketed by BoRR "
     "(subtype 1) and EoRR (subtype 2); BIRD's own request (subtype 0) follows."),
    ("bad-peer-as", "frr", "bird",
     "FRR's Bad Peer AS data is 2 octets, 0x5ba0 = 23456 (AS_TRANS, the my_as field of BIRD's OPEN), "
     "although BIRD's OPEN carries the 4-octet AS capability."),
    ("bad-peer-as", "bird", "gobgp",
     "BIRD's Bad Peer AS data is 4 octets: the AS from GoBGP's 4-octet AS capability (4200000003)."),
    ("bad-peer-as", "gobgp", "frr", "GoBGP's Bad Peer AS NOTIFICATION carries no data."),
    ("as4-off", "gobgp", "bird",
     "GoBGP puts its export-policy prepends in front of its own AS: AS_PATH 23456 23456 64503 with "
     "AS4_PATH 4200000003 4200000003 64503, so the leftmost AS is not GoBGP's AS; FRR and BIRD put "
     "their own AS leftmost."),
    ("as4-off", "frr", "bird",
     "Contains FRR's aggregate 10.244.0.0/16 (AS_SEQUENCE + AS_SET in both AS_PATH and AS4_PATH, "
     "AGGREGATOR with FRR's 2-octet AS) and GoBGP's routes with AGGREGATOR AS 23456 + AS4_AGGREGATOR."),
    ("bulk", "bird", None,
     "BIRD puts at most 256 prefixes (about 1.4 KB) into one UPDATE, even with extended messages."),
    ("bulk", "frr", "bird",
     "All 2000 prefixes travel in one 10116-octet UPDATE (RFC 8654 extended message), after the "
     "End-of-RIB. tshark 4.0 cannot dissect messages over 4096 octets: that oracle entry has type null."),
    ("bulk", "frr", "gobgp", "2000 prefixes in UPDATEs of exactly 4096 octets (796 + 796 + 408 prefixes)."),
    ("addpath", "gobgp", "frr",
     "GoBGP sends every path in its own UPDATE (one prefix per UPDATE); path ids 1 and 2 for the common prefix."),
]

TYPE_NAMES = {1: "OPEN", 2: "UPDATE", 3: "NOTIFICATION", 4: "KEEPALIVE", 5: "ROUTE-REFRESH"}
AFI_SAFI_NAMES = {(1, 1): "ipv4-unicast", (2, 1): "ipv6-unicast", (1, 2): "ipv4-multicast",
                  (2, 2): "ipv6-multicast"}
ORIGIN_NAMES = {0: "IGP", 1: "EGP", 2: "INCOMPLETE"}
SEGMENT_NAMES = {1: "AS_SET", 2: "AS_SEQUENCE", 3: "AS_CONFED_SEQUENCE", 4: "AS_CONFED_SET"}


def fam_name(afi, safi):
    return AFI_SAFI_NAMES.get((afi, safi), f"afi{afi}-safi{safi}")


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr}")
    return r.stdout


# ------------------------------------------------------------------ TCP reassembly
def tcp_streams(pcap):
    """Return {stream: {"dirs": {(src, sport): bytearray}, "first": frame, ...}}."""
    out = run(["tshark", "-r", pcap, "-Y", "tcp", "-T", "fields", "-E", "separator=\t",
               "-e", "frame.number", "-e", "tcp.stream", "-e", "ip.src", "-e", "ipv6.src",
               "-e", "tcp.srcport", "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport",
               "-e", "tcp.flags.syn", "-e", "tcp.seq_raw", "-e", "tcp.len", "-e", "tcp.payload",
               "-o", "tcp.desegment_tcp_streams:FALSE"])
    streams = OrderedDict()
    for line in out.splitlines():
        f = line.split("\t")
        frame, stream = int(f[0]), int(f[1])
        src = f[2] or f[3]
        dst = f[5] or f[6]
        sport, dport = int(f[4]), int(f[7])
        syn = f[8] in ("1", "True")
        seq, tlen = int(f[9]), int(f[10])
        payload = bytes.fromhex(f[11].replace(":", "")) if len(f) > 11 and f[11] else b""
        if len(payload) != tlen:
            sys.exit(f"{pcap} frame {frame}: captured payload {len(payload)} != tcp.len {tlen}")
        s = streams.setdefault(stream, {"first": frame, "isn": {}, "segs": {}, "order": []})
        key = (str(ipaddress.ip_address(src)), sport)
        if key not in s["order"]:
            s["order"].append(key)
            s["peer_of"] = s.get("peer_of", {})
        s.setdefault("peer_of", {})[key] = (str(ipaddress.ip_address(dst)), dport)
        if syn:
            s["isn"][key] = seq
        if payload:
            s["segs"].setdefault(key, []).append((frame, seq, payload))
    result = OrderedDict()
    for stream, s in streams.items():
        dirs = OrderedDict()
        stats = {}
        for key in s["order"]:
            segs = s["segs"].get(key, [])
            if key not in s["isn"]:
                if segs:
                    sys.exit(f"{pcap} stream {stream}: data from {key} but its SYN was not captured")
                continue
            isn = s["isn"][key]
            buf = bytearray()
            have = bytearray()
            dup = 0
            for frame, seq, payload in segs:
                off = (seq - isn - 1) % (1 << 32)
                end = off + len(payload)
                if end > len(buf):
                    buf.extend(b"\0" * (end - len(buf)))
                    have.extend(b"\0" * (end - len(have)))
                for i, b in enumerate(payload):
                    if have[off + i]:
                        dup += 1
                        if buf[off + i] != b:
                            sys.exit(f"{pcap} stream {stream} frame {frame}: retransmission differs")
                    else:
                        buf[off + i] = b
                        have[off + i] = 1
            if not all(have):
                sys.exit(f"{pcap} stream {stream}: hole in the byte stream from {key}")
            dirs[key] = bytes(buf)
            stats[key] = dup
        result[stream] = {"first": s["first"], "dirs": dirs, "dups": stats,
                          "peer_of": s.get("peer_of", {}), "order": s["order"]}
    return result


def split_messages(data, where):
    msgs = []
    off = 0
    while off < len(data):
        if len(data) - off < 19 or data[off:off + 16] != b"\xff" * 16:
            sys.exit(f"{where}: no BGP marker at offset {off}")
        ln = int.from_bytes(data[off + 16:off + 18], "big")
        if ln < 19 or off + ln > len(data):
            sys.exit(f"{where}: bad BGP length {ln} at offset {off}")
        msgs.append((off, data[off:off + ln]))
        off += ln
    return msgs


# ------------------------------------------------------------------ OPEN (own parse, for the context)
def parse_open_caps(msg):
    """Minimal OPEN parser: returns dict with my_as and capability info."""
    body = msg[19:]
    info = {"my_as": int.from_bytes(body[1:3], "big"), "caps": [], "as4": None,
            "addpath": {}, "extnh": set(), "extmsg": False, "mp": []}
    optlen = body[9]
    opt = body[10:10 + optlen]
    if optlen == 255 and opt[:1] == b"\xff":  # RFC 9072 extended optional parameters
        sys.exit("extended optional parameters not handled")
    i = 0
    while i < len(opt):
        ptype, plen = opt[i], opt[i + 1]
        pval = opt[i + 2:i + 2 + plen]
        i += 2 + plen
        if ptype != 2:
            continue
        j = 0
        while j < len(pval):
            code, clen = pval[j], pval[j + 1]
            cval = pval[j + 2:j + 2 + clen]
            j += 2 + clen
            info["caps"].append(code)
            if code == 65:
                info["as4"] = int.from_bytes(cval, "big")
            elif code == 69:
                for k in range(0, len(cval), 4):
                    afi = int.from_bytes(cval[k:k + 2], "big")
                    info["addpath"][fam_name(afi, cval[k + 2])] = cval[k + 3]
            elif code == 5:
                for k in range(0, len(cval), 6):
                    afi = int.from_bytes(cval[k:k + 2], "big")
                    safi = int.from_bytes(cval[k + 2:k + 4], "big")
                    nhafi = int.from_bytes(cval[k + 4:k + 6], "big")
                    info["extnh"].add((fam_name(afi, safi), nhafi))
            elif code == 6:
                info["extmsg"] = True
            elif code == 1:
                info["mp"].append(fam_name(int.from_bytes(cval[0:2], "big"), cval[3]))
    return info


def receiver_context(sender_open, receiver_open):
    s, r = sender_open, receiver_open
    four = s["as4"] is not None and r["as4"] is not None
    addpath = sorted(f for f, sr in s["addpath"].items()
                     if sr in (2, 3) and r["addpath"].get(f) in (1, 3))
    # RFC 8950: IPv4 NLRI with an IPv6 next hop may be sent to a peer that
    # advertised the capability for that family with next-hop AFI 2.
    extnh = sorted(f for f, nh in r["extnh"] if nh == 2)
    return {"four_octet_as": four, "add_path_receive": addpath,
            "extended_next_hop": extnh, "extended_message": bool(s["extmsg"] and r["extmsg"])}


# ------------------------------------------------------------------ tshark oracle
def pairs_hook(p):
    return [tuple(x) for x in p]


def is_tree(v):
    return isinstance(v, list) and (not v or isinstance(v[0], tuple))


def get(tree, key, default=None):
    for k, v in tree:
        if k == key:
            return v
    return default


def get_all(tree, key):
    return [v for k, v in tree if k == key]


def find_all(tree, key):
    """All values of key anywhere below tree (depth first, document order)."""
    out = []
    for k, v in tree:
        if k == key:
            out.append(v)
        if is_tree(v):
            out.extend(find_all(v, key))
    return out


def raw_hex(v):
    return v[0] if isinstance(v, list) and v and isinstance(v[0], str) else None


def to_int(v):
    if v is None:
        return None
    return int(v, 0) if isinstance(v, str) and v.startswith("0x") else int(v)


def prefixes(tree):
    """NLRI / withdrawn / MP prefixes: subtrees keyed by 'a.b.c.d/len' with optional path id."""
    out = []
    for k, v in tree:
        if not is_tree(v) or k.endswith("_raw"):
            continue
        plen = get(v, "bgp.prefix_length")
        addr = None
        for kk, vv in v:
            if kk in ("bgp.nlri_prefix", "bgp.withdrawn_prefix", "bgp.mp_reach_nlri_ipv4_prefix",
                      "bgp.mp_reach_nlri_ipv6_prefix", "bgp.mp_unreach_nlri_ipv4_prefix",
                      "bgp.mp_unreach_nlri_ipv6_prefix"):
                addr = vv
        if plen is None or addr is None:
            continue
        entry = {"prefix": f"{addr}/{plen}"}
        pid = get(v, "bgp.nlri_path_id")
        if pid is not None:
            entry["path_id"] = int(pid)
        out.append(entry)
    return out


def as_segments(attr):
    segs = []
    for seg in get_all(attr, "bgp.update.path_attribute.as_path_segment"):
        t = to_int(get(seg, "bgp.update.path_attribute.as_path_segment.type"))
        asns = [int(v) for k, v in seg
                if k in ("bgp.update.path_attribute.as_path_segment.as4",
                         "bgp.update.path_attribute.as_path_segment.as2")]
        segs.append({"type": SEGMENT_NAMES.get(t, str(t)), "asns": asns})
    return segs


def dissect_update(t):
    m = OrderedDict()
    wd = get(t, "bgp.update.withdrawn_routes")
    m["withdrawn"] = [p["prefix"] if "path_id" not in p else p for p in prefixes(wd)] if wd else []
    attrs = get(t, "bgp.update.path_attributes") or []
    types = []
    pa = OrderedDict()
    for k, a in attrs:
        if k != "bgp.update.path_attribute":
            continue
        code = to_int(get(a, "bgp.update.path_attribute.type_code"))
        flags = get(a, "bgp.update.path_attribute.flags")
        types.append(code)
        if code == 1:
            pa["origin"] = ORIGIN_NAMES.get(to_int(get(a, "bgp.update.path_attribute.origin")))
        elif code == 2:
            pa["as_path"] = as_segments(a)
        elif code == 17:
            pa["as4_path"] = as_segments(a)
        elif code == 3:
            pa["next_hop"] = get(a, "bgp.update.path_attribute.next_hop")
        elif code == 4:
            pa["med"] = to_int(get(a, "bgp.update.path_attribute.multi_exit_disc"))
        elif code == 5:
            pa["local_pref"] = to_int(get(a, "bgp.update.path_attribute.local_pref"))
        elif code == 6:
            pa["atomic_aggregate"] = True
        elif code in (7, 18):
            key = "aggregator" if code == 7 else "as4_aggregator"
            asn = get(a, "bgp.update.path_attribute.aggregator_as")
            pa[key] = {"as": to_int(asn), "address": get(a, "bgp.update.path_attribute.aggregator_origin")}
        elif code == 8:
            comms = get(a, "bgp.update.path_attribute.communities") or []
            out = []
            for kk, c in comms:
                if kk != "bgp.update.path_attribute.community":
                    continue
                asn = get(c, "bgp.update.path_attribute.community_as")
                val = get(c, "bgp.update.path_attribute.community_value")
                if asn is None or val is None:
                    # well-known communities are shown differently; use the raw value
                    raw = get(c, "bgp.update.path_attribute.community_well_known")
                    out.append(f"well-known:{raw}")
                else:
                    out.append(f"{int(asn)}:{int(val)}")
            pa["communities"] = out
        elif code == 32:
            out = []
            for lt in get_all(a, "bgp.large_communities_tree"):
                out.append("{}:{}:{}".format(int(get(lt, "bgp.large_communities.ga")),
                                             int(get(lt, "bgp.large_communities.ldp1")),
                                             int(get(lt, "bgp.large_communities.ldp2"))))
            pa["large_communities"] = out
        elif code == 16:
            ecs = get(a, "bgp.ext_communities") or []
            pa["extended_communities"] = [raw_hex(v) for k, v in ecs if k == "bgp.ext_community_raw"]
        elif code == 14:
            r = OrderedDict()
            r["afi"] = to_int(get(a, "bgp.update.path_attribute.mp_reach_nlri.afi"))
            r["safi"] = to_int(get(a, "bgp.update.path_attribute.mp_reach_nlri.safi"))
            nht = get(a, "bgp.update.path_attribute.mp_reach_nlri.next_hop_tree") or []
            nhs = [v for k, v in nht if not k.endswith("_raw") and not is_tree(v)]
            if not nhs:
                nhs = [get(a, "bgp.update.path_attribute.mp_reach_nlri.next_hop")]
            r["next_hops"] = nhs
            r["prefixes"] = [p["prefix"] if "path_id" not in p else p
                             for p in prefixes(get(a, "bgp.update.path_attribute.mp_reach_nlri") or [])]
            pa["mp_reach"] = r
        elif code == 15:
            r = OrderedDict()
            r["afi"] = to_int(get(a, "bgp.update.path_attribute.mp_unreach_nlri.afi"))
            r["safi"] = to_int(get(a, "bgp.update.path_attribute.mp_unreach_nlri.safi"))
            r["prefixes"] = [p["prefix"] if "path_id" not in p else p
                             for p in prefixes(get(a, "bgp.update.path_attribute.mp_unreach_nlri") or [])]
            pa["mp_unreach"] = r
        else:
            pa.setdefault("other_attributes", []).append(
                {"type": code, "flags": flags,
                 "length": to_int(get(a, "bgp.update.path_attribute.length"))})
    m["attribute_types"] = types
    m.update(pa)
    nlri = get(t, "bgp.update.nlri")
    m["nlri"] = [p["prefix"] if "path_id" not in p else p for p in prefixes(nlri)] if nlri else []
    return m


def dissect_open(t):
    m = OrderedDict()
    m["version"] = to_int(get(t, "bgp.open.version"))
    m["my_as"] = to_int(get(t, "bgp.open.myas"))
    m["hold_time"] = to_int(get(t, "bgp.open.holdtime"))
    m["bgp_id"] = get(t, "bgp.open.identifier")
    caps = []
    for cap in find_all(get(t, "bgp.open.opt") or [], "bgp.cap"):
        c = OrderedDict()
        c["code"] = to_int(get(cap, "bgp.cap.type"))
        if c["code"] == 65:
            c["as4"] = to_int(get(cap, "bgp.cap.4as"))
        elif c["code"] == 1:
            c["afi"] = to_int(get(cap, "bgp.cap.mp.afi"))
            c["safi"] = to_int(get(cap, "bgp.cap.mp.safi"))
        elif c["code"] == 69:
            afis = [to_int(v) for v in get_all(cap, "bgp.cap.ap.afi")]
            safis = [to_int(v) for v in get_all(cap, "bgp.cap.ap.safi")]
            srs = [to_int(v) for v in get_all(cap, "bgp.cap.ap.sendreceive")]
            c["families"] = [{"afi": a, "safi": s, "send_receive": r} for a, s, r in zip(afis, safis, srs)]
        elif c["code"] == 5:
            afis = [to_int(v) for v in get_all(cap, "bgp.cap.enh.afi")]
            safis = [to_int(v) for v in get_all(cap, "bgp.cap.enh.safi")]
            nhs = [to_int(v) for v in get_all(cap, "bgp.cap.enh.nhafi")]
            c["families"] = [{"afi": a, "safi": s, "nexthop_afi": n} for a, s, n in zip(afis, safis, nhs)]
        elif c["code"] == 64:
            tt = get(cap, "bgp.cap.gr.timers_tree") or []
            c["restart_flag"] = to_int(get(tt, "bgp.cap.gr.timers.restart_flag"))
            c["restart_time"] = to_int(get(tt, "bgp.cap.gr.timers.restart_time"))
            afis = [to_int(v) for v in get_all(cap, "bgp.cap.gr.afi")]
            safis = [to_int(v) for v in get_all(cap, "bgp.cap.gr.safi")]
            c["families"] = [{"afi": a, "safi": s} for a, s in zip(afis, safis)]
        caps.append(c)
    m["capabilities"] = [c["code"] for c in caps]
    m["capability_details"] = [c for c in caps if len(c) > 1]
    for c in caps:
        if c["code"] == 65:
            m["four_octet_as"] = c["as4"]
    mp = [[c["afi"], c["safi"]] for c in caps if c["code"] == 1]
    if mp:
        m["multiprotocol"] = mp
    ap = [[f["afi"], f["safi"], f["send_receive"]] for c in caps if c["code"] == 69 for f in c["families"]]
    if ap:
        m["add_path"] = ap
    return m


def dissect_notification(t, raw):
    m = OrderedDict()
    m["code"] = to_int(get(t, "bgp.notify.major_error"))
    sub = None
    for k, v in t:
        if k.startswith("bgp.notify.minor_error") and not k.endswith("_raw"):
            sub = to_int(v)
    m["subcode"] = sub
    # data = everything after code/subcode in the message tshark delimited
    m["data_hex"] = raw[21 * 2:] if raw else None
    comm = get(t, "bgp.notify.communication")
    if comm is not None:
        m["shutdown_communication"] = comm
    return m


def dissect(t):
    m = OrderedDict()
    mtype = to_int(get(t, "bgp.type"))
    m["type"] = TYPE_NAMES.get(mtype, str(mtype))
    m["length"] = to_int(get(t, "bgp.length"))
    raw = raw_hex(get(t, "bgp_raw"))
    if mtype == 1:
        m.update(dissect_open(t))
    elif mtype == 2:
        m.update(dissect_update(t))
    elif mtype == 3:
        m.update(dissect_notification(t, raw))
    elif mtype == 5:
        m["afi"] = to_int(get(t, "bgp.route_refresh.afi"))
        m["safi"] = to_int(get(t, "bgp.route_refresh.safi"))
        m["subtype"] = to_int(get(t, "bgp.route_refresh.subtype"))
    return m


def tshark_messages(pcap, stream, src, sport, asn_len):
    flt = f"tcp.stream == {stream} && tcp.srcport == {sport} && " + \
          (f"ipv6.src == {src}" if ":" in src else f"ip.src == {src}") + " && bgp"
    out = run(["tshark", "-r", pcap, "-o", f"bgp.asn_len:{asn_len}", "-Y", flt,
               "-T", "json", "-x", "-J", "bgp"])
    data = json.loads(out or "[]", object_pairs_hook=pairs_hook)
    msgs = []
    for pkt in data:
        layers = get(get(pkt, "_source"), "layers")
        # with -x every "bgp" tree has a "bgp_raw" sibling (the message bytes)
        trees = [v for k, v in layers if k == "bgp"]
        raws = [v for k, v in layers if k == "bgp_raw"]
        if len(trees) != len(raws):
            sys.exit(f"{pcap} stream {stream}: {len(trees)} bgp trees but {len(raws)} bgp_raw")
        for t, r in zip(trees, raws):
            msgs.append(t + [("bgp_raw", r)])
    return msgs


# ------------------------------------------------------------------ versions
def versions():
    def dpkg(p):
        return run(["dpkg-query", "-W", "-f", "${Version}", p]).strip()
    frr = re.search(r"version (\S+)", run(["/usr/lib/frr/bgpd", "--version"])).group(1)
    r = subprocess.run(["bird", "--version"], capture_output=True, text=True)
    bird = re.search(r"version (\S+)", r.stdout + r.stderr).group(1)
    gobgp = re.search(r"version (\S+)", run(["gobgpd", "--version"])).group(1)
    ts = re.search(r"TShark \(Wireshark\) (\S+)", run(["tshark", "--version"])).group(1)
    return {
        "frr": f"FRRouting bgpd {frr} (Debian frr {dpkg('frr')})",
        "bird": f"BIRD {bird} (Debian bird2 {dpkg('bird2')})",
        "gobgp": f"GoBGP gobgpd {gobgp} (Debian gobgpd {dpkg('gobgpd')})",
        "tshark": f"TShark {ts} (Debian tshark {dpkg('tshark')})",
    }


# ------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--phase", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    phase = args.phase
    vers = versions()

    # remove this phase's previous output
    for d in (phase, phase + "-v4", phase + "-v6"):
        shutil.rmtree(os.path.join(args.out, d), ignore_errors=True)

    entries = []
    for pcap in sorted(f for f in os.listdir(args.work) if f.endswith(".pcap")):
        path = os.path.join(args.work, pcap)
        streams = tcp_streams(path)
        # name connections, numbering repeated pairs
        seen = {}
        for stream, s in streams.items():
            if not any(s["dirs"].values()):
                continue
            client = s["order"][0]          # first packet (SYN) comes from the client
            server = s["peer_of"][client]
            transport = "v6" if ":" in client[0] else "v4"
            scen = f"{phase}-{transport}" if phase in SPLIT_BY_TRANSPORT else phase
            a, b = DAEMON_OF[client[0]], DAEMON_OF[server[0]]
            pair = (scen, frozenset((a, b)))
            seen[pair] = seen.get(pair, 0) + 1
            suffix = "" if seen[pair] == 1 else f"-conn{seen[pair]}"
            # OPENs of both directions (for the decode context)
            opens = {}
            msgs_by_dir = {}
            for key, data in s["dirs"].items():
                msgs = split_messages(data, f"{pcap} stream {stream} from {key}")
                msgs_by_dir[key] = msgs
                for off, m in msgs:
                    if m[18] == 1:
                        opens[key] = parse_open_caps(m)
                        break
            for key, data in s["dirs"].items():
                if not data:
                    continue
                other = s["peer_of"][key]
                sender, receiver = DAEMON_OF[key[0]], DAEMON_OF[other[0]]
                name = f"{sender}-to-{receiver}{suffix}"
                d = os.path.join(args.out, scen)
                os.makedirs(d, exist_ok=True)
                with open(os.path.join(d, name + ".bin"), "wb") as f:
                    f.write(data)
                if key in opens and other in opens:
                    ctx = receiver_context(opens[key], opens[other])
                    ctx_note = None
                else:
                    # no OPEN from the other side: no session was negotiated
                    ctx = {"four_octet_as": bool(opens.get(key, {}).get("as4")),
                           "add_path_receive": [], "extended_next_hop": [], "extended_message": False}
                    ctx_note = ("the receiver sent no OPEN on this connection; context assumes the "
                                "sender's own capabilities only (nothing but OPEN/KEEPALIVE/NOTIFICATION "
                                "is in the stream)")
                asn_len = 4 if ctx["four_octet_as"] else 2
                tmsgs = tshark_messages(path, stream, key[0], key[1], asn_len)
                oracle = [dissect(t) for t in tmsgs]
                mine = msgs_by_dir[key]
                if len(oracle) != len(mine):
                    sys.exit(f"{scen}/{name}: tshark found {len(oracle)} messages, framing found {len(mine)}")
                for i, ((off, m), o) in enumerate(zip(mine, oracle)):
                    if len(m) > 4096 and o["length"] == len(m) and o["type"] == "None":
                        # tshark 4.0 has no RFC 8654 support: it stops at "Length is
                        # invalid" and dissects nothing of a message longer than 4096
                        o.clear()
                        o["type"] = None
                        o["length"] = len(m)
                        o["tshark_not_dissected"] = (
                            "tshark 4.0 rejects BGP messages longer than 4096 octets "
                            "(no RFC 8654 extended message support); no oracle for this message")
                    if o["length"] != len(m) or (o["type"] is not None and TYPE_NAMES.get(m[18]) != o["type"]):
                        sys.exit(f"{scen}/{name}: message {i} differs between tshark and framing")
                    raw = raw_hex(get(tmsgs[i], "bgp_raw"))
                    if raw is not None and bytes.fromhex(raw) != m:
                        sys.exit(f"{scen}/{name}: message {i}: tshark bytes differ from the stream")
                    o["offset"] = off
                # cross-check the context against tshark's view of the OPENs
                t_open_s = next((o for o in oracle if o["type"] == "OPEN"), None)
                if t_open_s is not None and t_open_s.get("four_octet_as") != opens[key]["as4"]:
                    sys.exit(f"{scen}/{name}: tshark and own OPEN parse disagree on 4-octet AS")
                with open(os.path.join(d, name + ".tshark.json"), "w") as f:
                    json.dump(oracle, f, indent=1)
                    f.write("\n")
                counts = OrderedDict()   # from the framing (tshark may not type a message)
                for off, m in mine:
                    t = TYPE_NAMES.get(m[18], str(m[18]))
                    counts[t] = counts.get(t, 0) + 1
                e = OrderedDict()
                e["file"] = f"{scen}/{name}.bin"
                e["oracle"] = f"{scen}/{name}.tshark.json"
                e["scenario"] = scen
                e["sender"] = {"daemon": sender, "version": vers[sender],
                               "address": key[0], "port": key[1]}
                e["receiver"] = {"daemon": receiver, "version": vers[receiver],
                                 "address": other[0], "port": other[1]}
                e["transport"] = "ipv6" if transport == "v6" else "ipv4"
                e["tcp_connection_opened_by"] = DAEMON_OF[client[0]]
                fam = "ipv4" if transport == "v4" else "ipv6"
                e["description"] = DESCRIPTIONS[phase].format(
                    transport="IPv6" if transport == "v6" else "IPv4", fam=fam)
                e["bytes"] = len(data)
                e["message_counts"] = counts
                e["retransmitted_bytes_dropped"] = s["dups"].get(key, 0)
                e["context"] = ctx
                if ctx_note:
                    e["context_note"] = ctx_note
                notes = [n for p, sd, rc, n in NOTES
                         if p == phase and sd in (None, sender) and rc in (None, receiver)]
                if suffix:
                    notes.append("A later TCP connection between the same pair in this scenario "
                                 "(the connecting side retried after the error).")
                if notes:
                    e["notes"] = notes
                e["tshark"] = {"version": vers["tshark"], "bgp.asn_len": asn_len}
                entries.append(e)
                print(f"  {scen}/{name}.bin: {len(data)} bytes, {dict(counts)}, context {ctx}")

    # merge into manifest.json
    mpath = os.path.join(args.out, "manifest.json")
    manifest = []
    if os.path.exists(mpath):
        with open(mpath) as f:
            manifest = json.load(f)
    scen_dirs = {phase, phase + "-v4", phase + "-v6"}
    manifest = [e for e in manifest if e["scenario"] not in scen_dirs] + entries
    manifest.sort(key=lambda e: e["file"])
    with open(mpath, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
