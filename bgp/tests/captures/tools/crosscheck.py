#!/usr/bin/env python3
"""Decode every .bin with a small independent decoder (using the manifest's
context) and compare with the tshark oracle next to it.  Exit 1 on any
disagreement.  This is how the oracle was verified against the bytes."""
import argparse
import ipaddress
import json
import os
import sys

ORIGIN = {0: "IGP", 1: "EGP", 2: "INCOMPLETE"}
SEG = {1: "AS_SET", 2: "AS_SEQUENCE", 3: "AS_CONFED_SEQUENCE", 4: "AS_CONFED_SET"}
TYPES = {1: "OPEN", 2: "UPDATE", 3: "NOTIFICATION", 4: "KEEPALIVE", 5: "ROUTE-REFRESH"}
FAM = {(1, 1): "ipv4-unicast", (2, 1): "ipv6-unicast"}


def prefixes(buf, afi, addpath):
    out, i = [], 0
    while i < len(buf):
        pid = None
        if addpath:
            pid = int.from_bytes(buf[i:i + 4], "big")
            i += 4
        plen = buf[i]
        n = (plen + 7) // 8
        raw = buf[i + 1:i + 1 + n]
        i += 1 + n
        size = 4 if afi == 1 else 16
        addr = ipaddress.ip_address(bytes(raw) + bytes(size - n))
        p = f"{addr}/{plen}"
        out.append(p if pid is None else {"prefix": p, "path_id": pid})
    return out


def segments(buf, width):
    out, i = [], 0
    while i < len(buf):
        t, n = buf[i], buf[i + 1]
        asns = [int.from_bytes(buf[i + 2 + k * width:i + 2 + (k + 1) * width], "big") for k in range(n)]
        out.append({"type": SEG.get(t, str(t)), "asns": asns})
        i += 2 + n * width
    return out


def decode(msg, ctx):
    t = msg[18]
    m = {"type": TYPES.get(t, str(t)), "length": int.from_bytes(msg[16:18], "big")}
    b = msg[19:]
    if t == 1:
        m["version"] = b[0]
        m["my_as"] = int.from_bytes(b[1:3], "big")
        m["hold_time"] = int.from_bytes(b[3:5], "big")
        m["bgp_id"] = str(ipaddress.ip_address(bytes(b[5:9])))
        caps, mp, ap = [], [], []
        opt = b[10:10 + b[9]]
        i = 0
        while i < len(opt):
            pt, pl = opt[i], opt[i + 1]
            pv = opt[i + 2:i + 2 + pl]
            i += 2 + pl
            j = 0
            while pt == 2 and j < len(pv):
                c, cl = pv[j], pv[j + 1]
                cv = pv[j + 2:j + 2 + cl]
                j += 2 + cl
                caps.append(c)
                if c == 65:
                    m["four_octet_as"] = int.from_bytes(cv, "big")
                elif c == 1:
                    mp.append([int.from_bytes(cv[0:2], "big"), cv[3]])
                elif c == 69:
                    for k in range(0, len(cv), 4):
                        ap.append([int.from_bytes(cv[k:k + 2], "big"), cv[k + 2], cv[k + 3]])
        m["capabilities"] = caps
        if mp:
            m["multiprotocol"] = mp
        if ap:
            m["add_path"] = ap
    elif t == 2:
        ap4 = "ipv4-unicast" in ctx["add_path_receive"]
        width = 4 if ctx["four_octet_as"] else 2
        wl = int.from_bytes(b[0:2], "big")
        m["withdrawn"] = prefixes(b[2:2 + wl], 1, ap4)
        al = int.from_bytes(b[2 + wl:4 + wl], "big")
        attrs = b[4 + wl:4 + wl + al]
        m["nlri"] = prefixes(b[4 + wl + al:], 1, ap4)
        types = []
        i = 0
        while i < len(attrs):
            fl, code = attrs[i], attrs[i + 1]
            if fl & 0x10:
                ln = int.from_bytes(attrs[i + 2:i + 4], "big")
                v = attrs[i + 4:i + 4 + ln]
                i += 4 + ln
            else:
                ln = attrs[i + 2]
                v = attrs[i + 3:i + 3 + ln]
                i += 3 + ln
            types.append(code)
            if code == 1:
                m["origin"] = ORIGIN[v[0]]
            elif code == 2:
                m["as_path"] = segments(v, width)
            elif code == 17:
                m["as4_path"] = segments(v, 4)
            elif code == 3:
                m["next_hop"] = str(ipaddress.ip_address(bytes(v)))
            elif code == 4:
                m["med"] = int.from_bytes(v, "big")
            elif code == 5:
                m["local_pref"] = int.from_bytes(v, "big")
            elif code == 6:
                m["atomic_aggregate"] = True
            elif code == 7:
                w = len(v) - 4
                m["aggregator"] = {"as": int.from_bytes(v[:w], "big"),
                                   "address": str(ipaddress.ip_address(bytes(v[w:])))}
            elif code == 18:
                m["as4_aggregator"] = {"as": int.from_bytes(v[:4], "big"),
                                       "address": str(ipaddress.ip_address(bytes(v[4:])))}
            elif code == 8:
                m["communities"] = [f"{int.from_bytes(v[k:k+2], 'big')}:{int.from_bytes(v[k+2:k+4], 'big')}"
                                    for k in range(0, len(v), 4)]
            elif code == 32:
                m["large_communities"] = [":".join(str(int.from_bytes(v[k + o:k + o + 4], "big")) for o in (0, 4, 8))
                                          for k in range(0, len(v), 12)]
            elif code == 16:
                m["extended_communities"] = [v[k:k + 8].hex() for k in range(0, len(v), 8)]
            elif code == 14:
                afi, safi = int.from_bytes(v[0:2], "big"), v[2]
                nl = v[3]
                nh = v[4:4 + nl]
                if nl in (16, 32):
                    nhs = [str(ipaddress.ip_address(bytes(nh[k:k + 16]))) for k in range(0, nl, 16)]
                else:
                    nhs = [str(ipaddress.ip_address(bytes(nh)))]
                rest = v[4 + nl + 1:]
                apf = FAM.get((afi, safi)) in ctx["add_path_receive"]
                m["mp_reach"] = {"afi": afi, "safi": safi, "next_hops": nhs,
                                 "prefixes": prefixes(rest, afi, apf)}
            elif code == 15:
                afi, safi = int.from_bytes(v[0:2], "big"), v[2]
                apf = FAM.get((afi, safi)) in ctx["add_path_receive"]
                m["mp_unreach"] = {"afi": afi, "safi": safi, "prefixes": prefixes(v[3:], afi, apf)}
        m["attribute_types"] = types
    elif t == 3:
        m["code"], m["subcode"] = b[0], b[1]
        m["data_hex"] = b[2:].hex()
    elif t == 5:
        m["afi"] = int.from_bytes(b[0:2], "big")
        m["subtype"] = b[2]
        m["safi"] = b[3]
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(os.path.join(args.out, "manifest.json")) as f:
        manifest = json.load(f)
    bad = 0
    checked = 0
    for e in manifest:
        data = open(os.path.join(args.out, e["file"]), "rb").read()
        oracle = json.load(open(os.path.join(args.out, e["oracle"])))
        off = 0
        for i, o in enumerate(oracle):
            ln = int.from_bytes(data[off + 16:off + 18], "big")
            msg = data[off:off + ln]
            if o.get("offset") != off:
                print(f"{e['file']} #{i}: offset {o.get('offset')} != {off}")
                bad += 1
            mine = decode(msg, e["context"])
            off += ln
            if o.get("type") is None:
                continue   # not dissected by tshark (extended message)
            for k, v in mine.items():
                if k not in o:
                    if v in ([], None):
                        continue
                    print(f"{e['file']} #{i} ({o['type']}): field {k} missing from oracle; bytes say {v}")
                    bad += 1
                elif o[k] != v:
                    print(f"{e['file']} #{i} ({o['type']}): {k}: oracle {o[k]} != bytes {v}")
                    bad += 1
                checked += 1
        if off != len(data):
            print(f"{e['file']}: oracle covers {off} of {len(data)} bytes")
            bad += 1
    print(f"crosscheck: {checked} fields compared, {bad} disagreements")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
