#!/usr/bin/env bash
# The book's network for running ToyTCP for real, in three network
# namespaces on this machine:
#
#   host1 (10.0.0.1/24) ── router (10.0.0.254/24 | 10.0.1.254/24) ── host2 (10.0.1.1/24)
#         host1-veth1 ↔ router-veth1      router-veth2 ↔ host2-veth1
#
# host1 and host2 route everything via the router, which forwards IPv4.
# Checksum offload is off on every veth (a raw socket sees and sends real
# checksums), and host1 and host2 drop the RSTs their *kernel* sends — a
# kernel sees ToyTCP's segments too and would answer them with RST, as no
# kernel socket owns those ports — while ToyTCP's own RSTs go out:
#
#   iptables -A OUTPUT -p tcp --tcp-flags RST RST -m owner ! --uid-owner 0 -j DROP
#
# Kernel RSTs belong to no process (the owner match sees no file), so they
# match `! --uid-owner 0` and are dropped; ToyTCP, run as root, sends from a
# raw socket owned by uid 0 and is let through. (The book's plain rule
# without the owner match silences ToyTCP's RSTs too.)
#
# Usage: scripts/netns.sh [--install] up|down|status
#   up       create the namespaces (idempotent: fixes up what is missing)
#   down     delete them (idempotent)
#   status   say whether they exist
#   --install  first apt-get install the tools this needs
#
# NETNS_PREFIX=P (or --prefix P) names the namespaces Phost1, Prouter,
# Phost2, so that tests can make private copies; the addresses are the same
# in every copy (each namespace is isolated). Interface names are not
# prefixed: they only ever exist inside their namespace.
set -euo pipefail

PACKAGES="iproute2 iptables ethtool netcat-openbsd socat tcpdump"
prefix="${NETNS_PREFIX:-}"
install=0
action=""

usage() {
  echo "usage: $0 [--install] [--prefix P] up|down|status" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
  --install) install=1 ;;
  --prefix)
    [ $# -ge 2 ] || usage
    prefix="$2"
    shift
    ;;
  --prefix=*) prefix="${1#--prefix=}" ;;
  up | down | status)
    [ -z "$action" ] || usage
    action="$1"
    ;;
  -h | --help)
    sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *) usage ;;
  esac
  shift
done
[ -n "$action" ] || usage

case "$prefix" in
*[!A-Za-z0-9_.-]*)
  echo "netns.sh: NETNS_PREFIX may only hold letters, digits, '_', '.', '-' (got '$prefix')" >&2
  exit 2
  ;;
esac

H1="${prefix}host1"
RT="${prefix}router"
H2="${prefix}host2"
RST_RULE=(OUTPUT -p tcp --tcp-flags RST RST -m owner ! --uid-owner 0 -j DROP)

if [ "$(id -u)" -ne 0 ]; then
  echo "netns.sh: must run as root (network namespaces need CAP_SYS_ADMIN): sudo $0 $action" >&2
  exit 1
fi

if [ "$install" -eq 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  # shellcheck disable=SC2086
  apt-get install -y $PACKAGES
fi

missing=()
for tool in ip iptables ethtool; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "$action" = up ] && [ ${#missing[@]} -gt 0 ]; then
  echo "netns.sh: missing ${missing[*]}; install with: sudo apt-get install -y $PACKAGES (or: sudo $0 --install up)" >&2
  exit 1
fi
if ! command -v ip >/dev/null 2>&1; then
  echo "netns.sh: missing ip; install with: sudo apt-get install -y iproute2" >&2
  exit 1
fi

ns_exists() {
  ip netns list | awk '{print $1}' | grep -qxF "$1"
}

in_ns() {
  local ns="$1"
  shift
  ip netns exec "$ns" "$@"
}

# veth pair A (in namespace NA) ↔ B (in NB), created directly inside the
# namespaces so that nothing ever appears in the caller's namespace.
ensure_veth() {
  local na="$1" a="$2" nb="$3" b="$4"
  if in_ns "$na" ip link show "$a" >/dev/null 2>&1; then
    return
  fi
  ip link add name "$a" netns "$na" type veth peer name "$b" netns "$nb"
}

# Address, link up, checksum offload off.
ensure_if() {
  local ns="$1" dev="$2" addr="$3"
  in_ns "$ns" ip addr replace "$addr" dev "$dev"
  in_ns "$ns" ip link set "$dev" up
  in_ns "$ns" ethtool -K "$dev" tx off >/dev/null
}

ensure_rst_rule() {
  local ns="$1"
  if ! in_ns "$ns" iptables -C "${RST_RULE[@]}" 2>/dev/null; then
    in_ns "$ns" iptables -A "${RST_RULE[@]}"
  fi
}

up() {
  local ns
  for ns in "$H1" "$RT" "$H2"; do
    ns_exists "$ns" || ip netns add "$ns"
    in_ns "$ns" ip link set lo up
  done
  ensure_veth "$H1" host1-veth1 "$RT" router-veth1
  ensure_veth "$H2" host2-veth1 "$RT" router-veth2
  ensure_if "$H1" host1-veth1 10.0.0.1/24
  ensure_if "$RT" router-veth1 10.0.0.254/24
  ensure_if "$RT" router-veth2 10.0.1.254/24
  ensure_if "$H2" host2-veth1 10.0.1.1/24
  in_ns "$H1" ip route replace default via 10.0.0.254
  in_ns "$H2" ip route replace default via 10.0.1.254
  in_ns "$RT" sysctl -q -w net.ipv4.ip_forward=1
  ensure_rst_rule "$H1"
  ensure_rst_rule "$H2"
  echo "netns.sh: up: $H1 10.0.0.1, $RT 10.0.0.254/10.0.1.254, $H2 10.0.1.1"
  echo "netns.sh: try: sudo ip netns exec $H2 nc -l 10.0.1.1 40000   and   sudo ip netns exec $H1 toytcp-cli connect 10.0.1.1 40000"
}

down() {
  local ns
  for ns in "$H1" "$RT" "$H2"; do
    # Deleting a namespace deletes its veth ends (and so their peers).
    if ns_exists "$ns"; then
      ip netns delete "$ns"
    fi
  done
  echo "netns.sh: down: $H1 $RT $H2 removed"
}

status() {
  local ns rc=0
  for ns in "$H1" "$RT" "$H2"; do
    if ns_exists "$ns"; then
      echo "$ns: present"
    else
      echo "$ns: absent"
      rc=1
    fi
  done
  return $rc
}

"$action"
