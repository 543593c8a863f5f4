#!/usr/bin/env python3
"""Write the daemon configurations for one capture phase.

Usage: gen_configs.py PHASE OUTDIR

Writes OUTDIR/frr-bgpd.conf, OUTDIR/frr-zebra.conf, OUTDIR/bird.conf,
OUTDIR/gobgp.toml and OUTDIR/gobgp-routes.txt (arguments for
`gobgp global rib ...`, one route per line).  Only documentation
address ranges and 10.244.0.0/16 / fd00:10:244::/48 are used.

Topology (same for every phase):

    frr  fb-f 192.0.2.1/30    2001:db8:0:12::1/64 <-> fb-b 192.0.2.2/30    2001:db8:0:12::2/64 bird
    bird bg-b 198.51.100.1/30 2001:db8:0:23::1/64 <-> bg-g 198.51.100.2/30 2001:db8:0:23::2/64 gobgp
    frr  fg-f 203.0.113.1/30  2001:db8:0:13::1/64 <-> fg-g 203.0.113.2/30  2001:db8:0:13::2/64 gobgp
"""
import os
import sys

AS = {"frr": 4200000001, "bird": 4200000002, "gobgp": 4200000003}
RID = {"frr": "192.0.2.1", "bird": "198.51.100.1", "gobgp": "203.0.113.2"}
ADDR = {
    # (me, peer) -> (my v4, my v6, peer v4, peer v6)
    ("frr", "bird"): ("192.0.2.1", "2001:db8:0:12::1", "192.0.2.2", "2001:db8:0:12::2"),
    ("bird", "frr"): ("192.0.2.2", "2001:db8:0:12::2", "192.0.2.1", "2001:db8:0:12::1"),
    ("bird", "gobgp"): ("198.51.100.1", "2001:db8:0:23::1", "198.51.100.2", "2001:db8:0:23::2"),
    ("gobgp", "bird"): ("198.51.100.2", "2001:db8:0:23::2", "198.51.100.1", "2001:db8:0:23::1"),
    ("frr", "gobgp"): ("203.0.113.1", "2001:db8:0:13::1", "203.0.113.2", "2001:db8:0:13::2"),
    ("gobgp", "frr"): ("203.0.113.2", "2001:db8:0:13::2", "203.0.113.1", "2001:db8:0:13::1"),
}
# Who opens the TCP connection of each pair (the other side is passive), so
# that every session is exactly one TCP connection (no collisions).
ACTIVE = {frozenset(("frr", "bird")): "frr",
          frozenset(("bird", "gobgp")): "bird",
          frozenset(("frr", "gobgp")): "gobgp"}

# Originated routes: set "a" carries the rich attribute set, set "b" is
# withdrawn mid-session in the lifecycle phase.
N = {"frr": 1, "bird": 2, "gobgp": 3}


def v4_a(d):
    n = N[d] * 16
    return [f"10.244.{n}.0/24", f"10.244.{n+1}.0/24", f"10.244.{n+2}.0/23",
            f"10.244.{n+15}.1/32"]


def v4_b(d):
    n = N[d] * 16
    return [f"10.244.{n+4}.0/24", f"10.244.{n+5}.128/25"]


def v6_a(d):
    n = N[d]
    return [f"fd00:10:244:{n}0::/64", f"fd00:10:244:{n}1::/64",
            f"fd00:10:244:{n}2::/63", f"fd00:10:244:{n}f::1/128"]


def v6_b(d):
    n = N[d]
    return [f"fd00:10:244:{n}4::/64", f"fd00:10:244:{n}500::/56"]


COMMON_V4 = "10.244.200.0/24"      # originated by all three in the add-path phase
COMMON_V6 = "fd00:10:244:200::/64"


def bulk_v4(d):
    """2000 /28s: frr from 10.244.0.0/17, bird from 10.244.128.0/17."""
    base = {"frr": 0, "bird": 128}[d]
    out = []
    for i in range(2000):
        third = base + (i * 16) // 256
        fourth = (i * 16) % 256
        out.append(f"10.244.{third}.{fourth}/28")
    return out


# ---------------------------------------------------------------- phases
# sessions: list of (a, b, transport, families)
PHASES = {
    "lifecycle": dict(
        sessions=[(a, b, t, [fam]) for (a, b) in (("frr", "bird"), ("bird", "gobgp"), ("frr", "gobgp"))
                  for (t, fam) in (("v4", "ipv4"), ("v6", "ipv6"))],
        routes="lifecycle"),
    "addpath": dict(
        sessions=[(a, b, t, [fam]) for (a, b) in (("frr", "bird"), ("bird", "gobgp"), ("frr", "gobgp"))
                  for (t, fam) in (("v4", "ipv4"), ("v6", "ipv6"))],
        routes="addpath",
        # add-path: frr tx->bird, bird tx->gobgp, gobgp tx->frr
        addpath_tx={("frr", "bird"), ("bird", "gobgp"), ("gobgp", "frr")}),
    "as4-off": dict(
        sessions=[(a, b, "v4", ["ipv4"]) for (a, b) in (("frr", "bird"), ("bird", "gobgp"), ("frr", "gobgp"))],
        routes="lifecycle", bird_as4_off=True),
    "bad-peer-as": dict(
        sessions=[(a, b, "v4", ["ipv4"]) for (a, b) in (("frr", "bird"), ("bird", "gobgp"), ("frr", "gobgp"))],
        routes="none",
        # (detector, peer): detector expects AS 4200000009 from peer and is passive
        wrong_as={("frr", "bird"), ("bird", "gobgp"), ("gobgp", "frr")}),
    "extended-nexthop": dict(
        sessions=[("frr", "bird", "v6", ["ipv4", "ipv6"])],
        routes="lifecycle", extnh=True),
    "bulk": dict(
        sessions=[(a, b, "v4", ["ipv4"]) for (a, b) in (("frr", "bird"), ("bird", "gobgp"), ("frr", "gobgp"))],
        routes="bulk"),
}

AS4OFF_AS = {"frr": 64501, "bird": 64502, "gobgp": 64503}
WRONG_AS = 4200000009


def local_as(d, ph):
    """The AS a daemon runs as (sent in OPEN).  In the as4-off phase everyone
    runs a 2-octet AS: BIRD with `enable as4 off` refuses a neighbor AS above
    65535 in its configuration, and it still reads the peer's 4-octet AS
    capability and answers Bad Peer AS if that differs from the configured AS.
    4-octet ASNs then enter the paths through the export-policy prepends (which
    always prepend the daemon's usual 4-octet AS, see tag_as)."""
    if ph.get("bird_as4_off"):
        return AS4OFF_AS[d]
    return AS[d]


def tag_as(d):
    """4-octet AS used for prepending, large communities and route targets."""
    return AS[d]


def remote_as(me, peer, ph):
    if (me, peer) in ph.get("wrong_as", set()):
        return WRONG_AS
    return local_as(peer, ph)


def is_passive(me, peer, ph):
    wrong = ph.get("wrong_as", set())
    if wrong:
        # the detecting side waits; the other side connects
        return (me, peer) in wrong
    return ACTIVE[frozenset((me, peer))] != me


def my_sessions(me, ph):
    out = []
    for a, b, t, fams in ph["sessions"]:
        if me == a:
            out.append((b, t, fams))
        elif me == b:
            out.append((a, t, fams))
    return out


def peer_addr(me, peer, t):
    mv4, mv6, pv4, pv6 = ADDR[(me, peer)]
    return (mv4, pv4) if t == "v4" else (mv6, pv6)


def originated(d, ph):
    r = ph["routes"]
    if r == "none":
        return {"ipv4": {}, "ipv6": {}}
    if r == "bulk":
        if d == "gobgp":
            return {"ipv4": {}, "ipv6": {}}
        return {"ipv4": {"a": bulk_v4(d)}, "ipv6": {}}
    v4 = {"a": v4_a(d), "b": v4_b(d)}
    v6 = {"a": v6_a(d), "b": v6_b(d)}
    if r == "addpath":
        v4 = {"a": v4_a(d) + [COMMON_V4]}
        v6 = {"a": v6_a(d) + [COMMON_V6]}
    return {"ipv4": v4, "ipv6": v6}


# ---------------------------------------------------------------- FRR
def frr(ph, name):
    me = "frr"
    asn = local_as(me, ph)
    tag = tag_as(me)
    sess = my_sessions(me, ph)
    orig = originated(me, ph)
    L = ["! generated by tools/gen_configs.py for phase " + name,
         "hostname frr", "log stdout informational", "!",
         f"router bgp {asn}",
         f" bgp router-id {RID[me]}",
         " no bgp ebgp-requires-policy",
         " no bgp network import-check",
         " no bgp default ipv4-unicast",
         " bgp graceful-restart"]
    for peer, t, fams in sess:
        mine, theirs = peer_addr(me, peer, t)
        L.append(f" neighbor {theirs} remote-as {remote_as(me, peer, ph)}")
        L.append(f" neighbor {theirs} description {peer}-{t}")
        L.append(f" neighbor {theirs} update-source {mine}")
        if is_passive(me, peer, ph):
            L.append(f" neighbor {theirs} passive")
        if ph.get("extnh"):
            L.append(f" neighbor {theirs} capability extended-nexthop")
    for fam in ("ipv4", "ipv6"):
        users = [(p, t) for p, t, fams in sess if fam in fams]
        if not users:
            continue
        L.append(f" address-family {fam} unicast")
        for setname, pfxs in orig[fam].items():
            for p in pfxs:
                L.append(f"  network {p} route-map ORIGIN-{setname.upper()}")
        if name == "as4-off" and fam == "ipv4":
            L.append("  aggregate-address 10.244.0.0/16 as-set")
        for peer, t in users:
            theirs = peer_addr(me, peer, t)[1]
            L.append(f"  neighbor {theirs} activate")
            L.append(f"  neighbor {theirs} route-map EXPORT out")
            if (me, peer) in ph.get("addpath_tx", set()):
                L.append(f"  neighbor {theirs} addpath-tx-all-paths")
        L.append(" exit-address-family")
    L.append("!")
    if name == "bulk":
        L.append("bgp as-path access-list LOCAL-ONLY seq 5 permit ^$")
        L.append("!")
    L += ["route-map ORIGIN-A permit 10",
          " set origin igp",
          " set metric 11",
          " set community 64511:11 64511:12",
          f" set large-community {tag}:1:1 {tag}:1:2",
          f" set extcommunity rt 64511:100 {tag}:100" if tag > 65535 else " set extcommunity rt 64511:100",
          "!",
          "route-map ORIGIN-B permit 10",
          " set origin incomplete",
          " set community 64511:19",
          "!",
          "route-map EXPORT permit 10"]
    if name == "bulk":
        L.append(" match as-path LOCAL-ONLY")
    L += [f" set as-path prepend {tag} {tag}", "!"]
    if name == "bulk":
        L += ["route-map EXPORT deny 20", "!"]
    L.append("line vty")
    L.append("!")
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------- BIRD
def bird(ph, name):
    me = "bird"
    asn = local_as(me, ph)
    tag = tag_as(me)
    sess = my_sessions(me, ph)
    orig = originated(me, ph)
    L = [f"# generated by tools/gen_configs.py for phase {name}",
         f"router id {RID[me]};",
         "log stderr all;",
         "protocol device { scan time 10; }",
         "",
         "filter origin_a {",
         "  bgp_origin = ORIGIN_IGP;",
         "  bgp_community.add((64511,21));",
         "  bgp_community.add((64511,22));",
         f"  bgp_large_community.add(({tag},1,1));",
         f"  bgp_large_community.add(({tag},1,2));",
         "  bgp_ext_community.add((rt,64511,200));",
         f"  bgp_ext_community.add((rt,{tag},200));",
         "  accept;",
         "}",
         "filter origin_b {",
         "  bgp_origin = ORIGIN_INCOMPLETE;",
         "  bgp_community.add((64511,29));",
         "  accept;",
         "}",
         "filter export_ebgp {"]
    if name == "bulk":
        L.append("  if source != RTS_STATIC then reject;")
    # BIRD drops MED on eBGP export unless the export filter itself sets it
    L += ["  if source = RTS_STATIC && (64511,21) ~ bgp_community then bgp_med = 22;",
          f"  bgp_path.prepend({tag});",
          f"  bgp_path.prepend({tag});",
          "  accept;",
          "}", ""]
    for fam in ("ipv4", "ipv6"):
        for setname, pfxs in orig[fam].items():
            if not pfxs:
                continue
            L.append(f"protocol static static_{fam}_{setname} {{")
            L.append(f"  {fam} {{ import filter origin_{setname}; }};")
            for p in pfxs:
                L.append(f"  route {p} blackhole;")
            L.append("}")
    L.append("")
    for peer, t, fams in sess:
        mine, theirs = peer_addr(me, peer, t)
        L.append(f"protocol bgp {peer}_{t} {{")
        L.append(f"  local {mine} as {asn};")
        L.append(f"  neighbor {theirs} as {remote_as(me, peer, ph)};")
        L.append("  hold time 180;")
        L.append("  graceful restart on;")
        L.append("  long lived graceful restart on;")
        L.append("  enable extended messages on;")
        if ph.get("bird_as4_off"):
            L.append("  enable as4 off;")
        if is_passive(me, peer, ph):
            L.append("  passive on;")
        for fam in fams:
            opts = ["import all;", "export filter export_ebgp;"]
            if (me, peer) in ph.get("addpath_tx", set()):
                opts.append("add paths tx;")
            elif (peer, me) in ph.get("addpath_tx", set()):
                opts.append("add paths rx;")
            if ph.get("extnh") and fam == "ipv4" and t == "v6":
                opts.append("extended next hop on;")
            L.append(f"  {fam} {{ " + " ".join(opts) + " };")
        L.append("}")
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------- GoBGP
def gobgp(ph, name):
    me = "gobgp"
    asn = local_as(me, ph)
    tag = tag_as(me)
    sess = my_sessions(me, ph)
    L = [f"# generated by tools/gen_configs.py for phase {name}",
         "[global.config]",
         f"  as = {asn}",
         f'  router-id = "{RID[me]}"',
         "  port = 179",
         "[global.apply-policy.config]",
         '  export-policy-list = ["export-ebgp"]',
         '  default-export-policy = "reject-route"' if name == "bulk" else '  default-export-policy = "accept-route"',
         '  default-import-policy = "accept-route"',
         ""]
    for peer, t, fams in sess:
        mine, theirs = peer_addr(me, peer, t)
        L += ["[[neighbors]]",
              "  [neighbors.config]",
              f'    neighbor-address = "{theirs}"',
              f"    peer-as = {remote_as(me, peer, ph)}",
              f'    description = "{peer}-{t}"',
              "  [neighbors.transport.config]",
              f'    local-address = "{mine}"']
        if is_passive(me, peer, ph):
            L.append("    passive-mode = true")
        L += ["  [neighbors.graceful-restart.config]",
              "    enabled = true",
              "    restart-time = 120",
              "    long-lived-enabled = true"]
        for fam in fams:
            L += ["  [[neighbors.afi-safis]]",
                  "    [neighbors.afi-safis.config]",
                  f'      afi-safi-name = "{fam}-unicast"',
                  "    [neighbors.afi-safis.mp-graceful-restart.config]",
                  "      enabled = true",
                  "    [neighbors.afi-safis.long-lived-graceful-restart.config]",
                  "      enabled = true",
                  "      restart-time = 3600"]
            if (me, peer) in ph.get("addpath_tx", set()):
                L += ["    [neighbors.afi-safis.add-paths.config]",
                      "      send-max = 8"]
            elif (peer, me) in ph.get("addpath_tx", set()):
                L += ["    [neighbors.afi-safis.add-paths.config]",
                      "      receive = true"]
        L.append("")
    prepend = ["    [policy-definitions.statements.actions]",
               '      route-disposition = "accept-route"',
               "    [policy-definitions.statements.actions.bgp-actions.set-as-path-prepend]",
               f'      as = "{tag}"',
               "      repeat-n = 2"]
    L += ["[[defined-sets.bgp-defined-sets.community-sets]]",
          '  community-set-name = "origin-a"',
          '  community-list = ["64511:31"]',
          "",
          "[[policy-definitions]]",
          '  name = "export-ebgp"']
    if name == "bulk":
        L += ["  [[policy-definitions.statements]]",
              '    name = "local-only"',
              "    [policy-definitions.statements.conditions.bgp-conditions]",
              '      route-type = "local"'] + prepend
    else:
        # the CLI cannot attach extended communities to an ipv4/ipv6-unicast
        # route, so route set "a" gets its route targets here
        L += ["  [[policy-definitions.statements]]",
              '    name = "origin-a"',
              "    [policy-definitions.statements.conditions.bgp-conditions.match-community-set]",
              '      community-set = "origin-a"',
              '      match-set-options = "any"'] + prepend + [
              "    [policy-definitions.statements.actions.bgp-actions.set-ext-community]",
              '      options = "add"',
              "      [policy-definitions.statements.actions.bgp-actions.set-ext-community.set-ext-community-method]",
              # GoBGP parses "rt:<asn>:<n>" with a 16-bit ASN (4200000003
              # silently becomes 65535); a 4-octet ASN must be written asdot
              f'        communities-list = ["rt:64511:300", "rt:{tag >> 16}.{tag & 0xffff}:300"]',
              "  [[policy-definitions.statements]]",
              '    name = "others"'] + prepend
    L.append("")
    return "\n".join(L) + "\n"


def gobgp_routes(ph, name):
    orig = originated("gobgp", ph)
    tag = tag_as("gobgp")
    out = []
    for fam in ("ipv4", "ipv6"):
        for setname, pfxs in orig[fam].items():
            for p in pfxs:
                if setname == "a":
                    attrs = (f"origin igp med 33 community 64511:31,64511:32 "
                             f"large-community {tag}:1:1,{tag}:1:2 "
                             f"aggregator {tag}:{RID['gobgp']}")
                else:
                    attrs = "origin incomplete community 64511:39"
                out.append(f"{setname} -a {fam} add {p} {attrs}")
    return "\n".join(out) + ("\n" if out else "")


def main():
    name, outdir = sys.argv[1], sys.argv[2]
    ph = PHASES[name]
    os.makedirs(outdir, exist_ok=True)
    files = {
        "frr-bgpd.conf": frr(ph, name),
        "frr-zebra.conf": "hostname frr-zebra\nlog stdout informational\n!\n",
        "bird.conf": bird(ph, name),
        "gobgp.toml": gobgp(ph, name),
        "gobgp-routes.txt": gobgp_routes(ph, name),
    }
    for fn, text in files.items():
        with open(os.path.join(outdir, fn), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
