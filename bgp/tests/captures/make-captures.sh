#!/usr/bin/env bash
# Regenerate the BGP wire fixtures in this directory from real FRR, BIRD and
# GoBGP daemons running in Linux network namespaces.  See README.md.
#
#   sudo ./make-captures.sh            # all phases
#   sudo ./make-captures.sh lifecycle  # only some phases (others are left as they are)
#
# Needs (Debian 12): frr bird2 gobgpd tshark tcpdump python3.
# Env: KEEP_WORK=1 keeps the scratch directory (pcaps, daemon logs).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOLS=$HERE/tools
ALL_PHASES=(lifecycle addpath as4-off bad-peer-as extended-nexthop bulk)

if [[ $EUID -ne 0 ]]; then
    echo "make-captures.sh: must run as root (network namespaces, tcpdump)" >&2
    exit 1
fi
for bin in /usr/lib/frr/zebra /usr/lib/frr/bgpd vtysh bird birdc gobgpd gobgp tshark tcpdump python3 ip; do
    command -v "$bin" >/dev/null || { echo "missing $bin (apt-get install frr bird2 gobgpd tshark tcpdump)" >&2; exit 1; }
done

NS_FRR=bgpcap-frr
NS_BIRD=bgpcap-bird
NS_GOBGP=bgpcap-gobgp
NSS=("$NS_FRR" "$NS_BIRD" "$NS_GOBGP")

WORK=$(mktemp -d /tmp/bgpcap.XXXXXX)
chmod 755 "$WORK"
declare -a PIDS=()        # every process this script started (daemons, tcpdump)
declare -a TCPDUMP_PIDS=()

log() { printf '%s [%s] %s\n' "$(date +%H:%M:%S)" "${PHASE:-main}" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

stop_pid() {  # stop_pid PID [grace-seconds]: TERM, then KILL after the grace period
    local pid=$1 grace=${2:-10} i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    log "pid $pid did not exit after TERM, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

stop_all() {
    local pid
    for pid in "${TCPDUMP_PIDS[@]}"; do stop_pid "$pid" 5; done
    for pid in "${PIDS[@]}"; do stop_pid "$pid" 10; done
    PIDS=(); TCPDUMP_PIDS=()
}

del_namespaces() {
    local ns pid
    for ns in "${NSS[@]}"; do
        if ip netns list | grep -qw "$ns"; then
            # Only processes inside namespaces this script creates (left over by an
            # earlier, killed run of this script) are stopped here.
            for pid in $(ip netns pids "$ns" 2>/dev/null); do stop_pid "$pid" 5; done
            ip netns del "$ns"
        fi
    done
}

cleanup() {
    local rc=$?
    set +e
    stop_all
    del_namespaces
    if [[ -n ${KEEP_WORK:-} || $rc -ne 0 ]]; then
        log "scratch directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_until() {  # wait_until DESCRIPTION TIMEOUT-SECONDS COMMAND...
    local desc=$1 timeout=$2 i
    shift 2
    for ((i = 0; i < timeout * 4; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.25
    done
    die "timed out after ${timeout}s waiting for: $desc"
}

# ------------------------------------------------------------------ topology
setup_namespaces() {
    local ns
    del_namespaces
    for ns in "${NSS[@]}"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
            net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    done
    # link NAME-A NS-A ADDR4-A ADDR6-A  NAME-B NS-B ADDR4-B ADDR6-B
    mklink fb-f "$NS_FRR"   192.0.2.1/30    2001:db8:0:12::1/64  fb-b "$NS_BIRD"  192.0.2.2/30    2001:db8:0:12::2/64
    mklink bg-b "$NS_BIRD"  198.51.100.1/30 2001:db8:0:23::1/64  bg-g "$NS_GOBGP" 198.51.100.2/30 2001:db8:0:23::2/64
    mklink fg-f "$NS_FRR"   203.0.113.1/30  2001:db8:0:13::1/64  fg-g "$NS_GOBGP" 203.0.113.2/30  2001:db8:0:13::2/64
    wait_until "IPv6 link-local addresses" 30 linklocals_ready
}

mklink() {
    local a=$1 nsa=$2 a4=$3 a6=$4 b=$5 nsb=$6 b4=$7 b6=$8
    ip link add "$a" netns "$nsa" type veth peer name "$b" netns "$nsb"
    ip netns exec "$nsa" sysctl -qw "net.ipv6.conf.$a.accept_dad=0"
    ip netns exec "$nsb" sysctl -qw "net.ipv6.conf.$b.accept_dad=0"
    ip -n "$nsa" addr add "$a4" dev "$a"
    ip -n "$nsb" addr add "$b4" dev "$b"
    ip -n "$nsa" addr add "$a6" dev "$a" nodad
    ip -n "$nsb" addr add "$b6" dev "$b" nodad
    ip -n "$nsa" link set "$a" up
    ip -n "$nsb" link set "$b" up
}

linklocals_ready() {
    local ns n
    for ns in "${NSS[@]}"; do
        n=$(ip -n "$ns" -6 addr show scope link | grep -c 'inet6 fe80' || true)
        [[ $n -ge 2 ]] || return 1
        ip -n "$ns" -6 addr show | grep -q tentative && return 1
    done
    return 0
}

# ------------------------------------------------------------------ capture
start_capture() {  # start_capture NS IFACE OUTFILE
    local ns=$1 ifc=$2 out=$3
    ip netns exec "$ns" tcpdump -i "$ifc" -n -s 0 -U -Z root -w "$out" 'tcp port 179' \
        >"$out.log" 2>&1 &
    PIDS+=($!); TCPDUMP_PIDS+=($!)
    wait_until "tcpdump on $ns/$ifc" 30 grep -q 'listening on' "$out.log"
}

stop_captures() {
    local pid
    sleep 1
    for pid in "${TCPDUMP_PIDS[@]}"; do stop_pid "$pid" 5; done
    TCPDUMP_PIDS=()
}

# ------------------------------------------------------------------ daemons
FRR_RUN= ; BIRD_SOCK= ; GOBGP_CFG=
vtysh_frr() { vtysh --vty_socket "$FRR_RUN" "$@"; }
birdc_() { birdc -s "$BIRD_SOCK" "$@"; }
gobgp_() { ip netns exec "$NS_GOBGP" gobgp -u 127.0.0.1 -p 50051 "$@"; }

start_frr() {  # start_frr CONFDIR
    local conf=$1
    FRR_RUN=$WORK/$PHASE/frr-run
    mkdir -p "$FRR_RUN"
    cp "$conf/frr-zebra.conf" "$FRR_RUN/zebra.conf"
    cp "$conf/frr-bgpd.conf" "$FRR_RUN/bgpd.conf"
    chown -R frr:frr "$FRR_RUN"
    ip netns exec "$NS_FRR" /usr/lib/frr/zebra -f "$FRR_RUN/zebra.conf" -i "$FRR_RUN/zebra.pid" \
        -z "$FRR_RUN/zserv.api" --vty_socket "$FRR_RUN" -P 0 >"$WORK/$PHASE/zebra.log" 2>&1 &
    PIDS+=($!)
    wait_until "zebra socket" 30 test -S "$FRR_RUN/zserv.api"
    ip netns exec "$NS_FRR" /usr/lib/frr/bgpd -f "$FRR_RUN/bgpd.conf" -i "$FRR_RUN/bgpd.pid" \
        -z "$FRR_RUN/zserv.api" --vty_socket "$FRR_RUN" -P 0 >"$WORK/$PHASE/bgpd.log" 2>&1 &
    PIDS+=($!)
    wait_until "bgpd vty" 30 vtysh_frr -d bgpd -c 'show bgp summary'
}

start_bird() {
    local conf=$1
    BIRD_SOCK=$WORK/$PHASE/bird.ctl
    ip netns exec "$NS_BIRD" bird -f -c "$conf/bird.conf" -s "$BIRD_SOCK" >"$WORK/$PHASE/bird.log" 2>&1 &
    PIDS+=($!)
    wait_until "bird control socket" 30 birdc_ show status
}

start_gobgp() {
    local conf=$1 line
    ip netns exec "$NS_GOBGP" gobgpd -f "$conf/gobgp.toml" -t toml --api-hosts 127.0.0.1:50051 \
        --pprof-disable -l info >"$WORK/$PHASE/gobgpd.log" 2>&1 &
    PIDS+=($!)
    wait_until "gobgpd API" 30 gobgp_ global
    # originate routes (set a and b); lines: "<set> <args for 'gobgp global rib'>"
    while read -r set args; do
        [[ -n $set ]] || continue
        # shellcheck disable=SC2086
        gobgp_ global rib $args || die "gobgp global rib $args failed"
    done <"$conf/gobgp-routes.txt"
}

frr_established() { vtysh_frr -c "show bgp neighbors $1 json" | grep -q '"bgpState":"Established"'; }
bird_established() { birdc_ show protocols "$1" | grep -q Established; }
gobgp_established() { gobgp_ neighbor | awk -v a="$1" '$1 == a && $0 ~ /Establ/ {f=1} END {exit !f}'; }
frr_no_session() { ! frr_established "$1"; }
bird_down() { ! bird_established "$1"; }
gobgp_no_session() { ! gobgp_established "$1"; }

wait_sessions() {  # wait_sessions v4|v6|both
    local t=$1
    if [[ $t == v4 || $t == both ]]; then
        wait_until "frr-bird v4"   60 frr_established 192.0.2.2
        wait_until "frr-gobgp v4"  60 frr_established 203.0.113.2
        wait_until "bird-gobgp v4" 60 bird_established gobgp_v4
    fi
    if [[ $t == v6 || $t == both ]]; then
        wait_until "frr-bird v6"   60 frr_established 2001:db8:0:12::2
        wait_until "frr-gobgp v6"  60 frr_established 2001:db8:0:13::2
        wait_until "bird-gobgp v6" 60 bird_established gobgp_v6
    fi
}

gobgp_rib_count() {  # gobgp_rib_count FAMILY: number of destinations in GoBGP's RIB
    gobgp_ global rib -a "$1" summary 2>/dev/null | awk '/Destination/ {print $NF; exit}'
}

start_phase() {  # start_phase NAME: namespaces, configs, captures, daemons
    PHASE=$1
    log "=== phase $PHASE"
    mkdir -p "$WORK/$PHASE"
    rm -rf "${HERE:?}/config/$PHASE"
    python3 "$TOOLS/gen_configs.py" "$PHASE" "$HERE/config/$PHASE"
    setup_namespaces
    start_capture "$NS_FRR"  fb-f "$WORK/$PHASE/frr-bird.pcap"
    start_capture "$NS_BIRD" bg-b "$WORK/$PHASE/bird-gobgp.pcap"
    start_capture "$NS_FRR"  fg-f "$WORK/$PHASE/frr-gobgp.pcap"
}

finish_phase() {  # stop captures and daemons, extract the streams
    stop_captures
    stop_all
    del_namespaces
    python3 "$TOOLS/extract.py" --phase "$PHASE" --work "$WORK/$PHASE" --out "$HERE"
}

# ------------------------------------------------------------------ phases
phase_lifecycle() {
    local c=$HERE/config/lifecycle
    start_phase lifecycle
    start_bird "$c"; start_gobgp "$c"; start_frr "$c"
    wait_sessions both
    log "sessions up; letting initial UPDATEs and End-of-RIB markers flow"
    sleep 12
    log "withdrawing route set b at every daemon"
    vtysh_frr -c 'configure terminal' -c 'router bgp 4200000001' -c 'address-family ipv4 unicast' \
        -c 'no network 10.244.20.0/24 route-map ORIGIN-B' -c 'no network 10.244.21.128/25 route-map ORIGIN-B' \
        -c 'exit-address-family' -c 'address-family ipv6 unicast' \
        -c 'no network fd00:10:244:14::/64 route-map ORIGIN-B' -c 'no network fd00:10:244:1500::/56 route-map ORIGIN-B'
    birdc_ disable static_ipv4_b >/dev/null
    birdc_ disable static_ipv6_b >/dev/null
    while read -r set args; do
        [[ $set == b ]] || continue
        # shellcheck disable=SC2086
        gobgp_ global rib ${args/ add / del }
    done <"$c/gobgp-routes.txt"
    sleep 6
    log "route refresh from every daemon on every session"
    vtysh_frr -c 'clear bgp ipv4 unicast * soft in' -c 'clear bgp ipv6 unicast * soft in'
    sleep 3
    birdc_ reload in frr_v4 >/dev/null; birdc_ reload in frr_v6 >/dev/null
    birdc_ reload in gobgp_v4 >/dev/null; birdc_ reload in gobgp_v6 >/dev/null
    sleep 3
    gobgp_ neighbor 203.0.113.1 softresetin -a ipv4
    gobgp_ neighbor 2001:db8:0:13::1 softresetin -a ipv6
    gobgp_ neighbor 198.51.100.1 softresetin -a ipv4
    gobgp_ neighbor 2001:db8:0:23::1 softresetin -a ipv6
    sleep 5
    log "administrative shutdown with RFC 9003 messages"
    vtysh_frr -c 'configure terminal' -c 'router bgp 4200000001' \
        -c 'neighbor 192.0.2.2 shutdown message frr: maintenance of the v4 session to bird' \
        -c 'neighbor 2001:db8:0:12::2 shutdown message frr: maintenance of the v6 session to bird'
    birdc_ disable gobgp_v4 '"bird: maintenance of the v4 session to gobgp"' >/dev/null
    birdc_ disable gobgp_v6 '"bird: maintenance of the v6 session to gobgp"' >/dev/null
    # `gobgp neighbor X disable` drops --reason (GoBGP 3.10 CLI); the deprecated
    # `shutdown` subcommand passes it on as the RFC 9003 communication
    gobgp_ neighbor 203.0.113.1 shutdown --reason "gobgp: maintenance of the v4 session to frr"
    gobgp_ neighbor 2001:db8:0:13::1 shutdown --reason "gobgp: maintenance of the v6 session to frr"
    wait_until "frr-bird v4 down" 30 frr_no_session 192.0.2.2
    wait_until "frr-gobgp v6 down" 30 frr_no_session 2001:db8:0:13::2
    wait_until "bird-gobgp v6 down" 30 bird_down gobgp_v6
    sleep 2
    finish_phase
}

phase_addpath() {
    local c=$HERE/config/addpath
    start_phase addpath
    start_bird "$c"; start_gobgp "$c"; start_frr "$c"
    wait_sessions both
    sleep 12
    log "gobgp withdraws its copy of the prefixes every daemon originates"
    gobgp_ global rib -a ipv4 del 10.244.200.0/24
    gobgp_ global rib -a ipv6 del fd00:10:244:200::/64
    sleep 6
    finish_phase
}

phase_as4_off() {
    local c=$HERE/config/as4-off
    start_phase as4-off
    start_bird "$c"; start_gobgp "$c"; start_frr "$c"
    wait_sessions v4
    sleep 12
    finish_phase
}

phase_bad_peer_as() {
    local c=$HERE/config/bad-peer-as
    start_phase bad-peer-as
    start_bird "$c"; start_gobgp "$c"; start_frr "$c"
    # every pair: the passive side expects AS 4200000009 and must answer the
    # other side's OPEN with NOTIFICATION 2/2 (Bad Peer AS)
    wait_until "three Bad Peer AS notifications" 60 bad_peer_as_seen
    sleep 2
    finish_phase
}

bad_peer_as_seen() {
    local f n=0
    for f in frr-bird bird-gobgp frr-gobgp; do
        # BGP marker + NOTIFICATION type 3, code 2, subcode 2 in the capture so far
        if tshark -r "$WORK/$PHASE/$f.pcap" -Y 'bgp.notify.major_error == 2 && bgp.notify.minor_error_open == 2' \
            -T fields -e frame.number 2>/dev/null | grep -q .; then
            n=$((n + 1))
        fi
    done
    [[ $n -eq 3 ]]
}

phase_extended_nexthop() {
    local c=$HERE/config/extended-nexthop
    start_phase extended-nexthop
    start_bird "$c"; start_frr "$c"
    wait_until "frr-bird v6" 60 frr_established 2001:db8:0:12::2
    sleep 12
    finish_phase
}

phase_bulk() {
    local c=$HERE/config/bulk
    start_phase bulk
    start_bird "$c"; start_gobgp "$c"; start_frr "$c"
    wait_sessions v4
    wait_until "gobgp learned 4000 bulk prefixes" 120 bulk_done
    sleep 5
    finish_phase
}

bulk_done() { [[ $(gobgp_rib_count ipv4) -ge 4000 ]]; }

# ------------------------------------------------------------------ main
PHASES=("$@")
[[ ${#PHASES[@]} -gt 0 ]] || PHASES=("${ALL_PHASES[@]}")
for p in "${PHASES[@]}"; do
    case $p in
        lifecycle) phase_lifecycle ;;
        addpath) phase_addpath ;;
        as4-off) phase_as4_off ;;
        bad-peer-as) phase_bad_peer_as ;;
        extended-nexthop) phase_extended_nexthop ;;
        bulk) phase_bulk ;;
        *) die "unknown phase $p (known: ${ALL_PHASES[*]})" ;;
    esac
done
PHASE=
python3 "$TOOLS/manifest.py" --out "$HERE"
python3 "$TOOLS/crosscheck.py" --out "$HERE"
log "done"
