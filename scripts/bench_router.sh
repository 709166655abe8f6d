#!/usr/bin/env bash
# Throughput through the book's router: ToyTCP → kernel against
# kernel → kernel, measured in the same run (BENCHMARKS.md §4); with
# --toytcp-receives, kernel → ToyTCP against kernel → kernel.
#
#   host1 10.0.0.1 ── router 10.0.0.254 | 10.0.1.254 ── host2 10.0.1.1
#   (sender)          (forwards; --loss, --rate here)   (receiver)
#
# The script makes a private copy of the topology with scripts/netns.sh
# (prefix dbench<PID>-) and removes it on exit, whatever happens. On top of
# netns.sh (checksum offload off) it turns TSO, GSO and GRO off on every
# veth, so that both senders put real MTU-sized segments on each link and
# the router forwards the same packets either way (with GSO on, the kernel
# hands 64 KiB super-segments across the veths and the router, while
# ToyTCP's raw socket sends one segment per packet; --offloads keeps that
# state, for comparison).
#
# Each run moves --mib MiB of random data from host1 to a kernel receiver in
# host2 (`socat -u TCP-LISTEN … STDOUT | wc -c`, the byte count checked)
# twice: once with `toytcp-cli connect` as the sender and once with the
# kernel's TCP (`socat -u STDIN TCP:…`), alternating which goes first. The
# time is from starting the sender to the receiver's end of stream. It
# prints MB/s (10^6 bytes per second) for each transfer, the median of each
# sender and the ratio of the medians.
#
# --toytcp-receives turns the comparison around: both transfers of a run
# have the kernel (socat, as above) as the sender in host1, and the
# receiver in host2 is once `toytcp-cli listen 10.0.1.1 PORT </dev/null`
# (its stdin empty: it sends its FIN at once and only receives) and once
# the kernel (socat). There the time runs from starting the sender to the
# receiving side having read the last of the --mib bytes (`head -c`
# stamps the moment), for both receivers alike, so that ToyTCP's wait for
# its connection to close after the data (bounded, see toytcp-cli's
# LINGER) is not counted. --cc and --min-rto then apply to ToyTCP the
# receiver (they matter little there).
#
# The kernel sender's congestion control is set on its socket
# (setsockopt TCP_CONGESTION through socat's setsockopt-string=6:13:NAME;
# --kernel-cc, default cubic): a namespace's default
# (sysctl net.ipv4.tcp_congestion_control, inherited from the host: bbr on
# the team's machine) can only be changed to an algorithm in the host's
# net.ipv4.tcp_allowed_congestion_control, while root may pick any
# available one per socket. The script prints the namespace default and
# the algorithm `ss -ti` shows on the first kernel transfer.
#
# Usage: sudo scripts/bench_router.sh [options]
#   --runs N          pairs of transfers (default 5)
#   --mib M           MiB per transfer (default 200)
#   --loss PCT        drop PCT % of the data packets (host1 → host2) at the
#                     router: iptables FORWARD -m statistic --mode random
#   --rate RATE       tbf rate limit on the router's egress toward host2,
#                     e.g. 100mbit (burst 32 KiB; queue limit 20 ms of the
#                     rate: 250 KB at 100 Mbit/s, one BDP of a 20 ms path)
#   --cc NAME         ToyTCP's congestion controller (toytcp-cli --cc)
#   --min-rto MS      ToyTCP's minimum RTO (toytcp-cli --min-rto; Linux: 200)
#   --kernel-cc NAME  the kernel sender's congestion control (default cubic)
#   --timeout S       give up on one transfer after S seconds (default 600)
#   --offloads        leave TSO/GSO/GRO as netns.sh leaves them (on, off, off)
#   --toytcp-receives measure kernel → ToyTCP against kernel → kernel
#   --bin PATH        the toytcp-cli binary (default target/release/toytcp-cli)
#   --no-build        do not run `cargo build --release -p toytcp-cli` first
#                     (build as yourself, then run this with sudo)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"

runs=5
mib=200
loss=""
rate=""
cc=""
min_rto=""
kernel_cc=cubic
timeout_s=600
bin="$root/target/release/toytcp-cli"
build=1
offloads=0
receives=0
port_base=41000

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

need_arg() {
  [ $# -ge 2 ] && [ -n "$2" ] || {
    echo "bench_router.sh: $1 needs a value" >&2
    exit 2
  }
}

while [ $# -gt 0 ]; do
  case "$1" in
  --runs) need_arg "$@"; runs="$2"; shift ;;
  --mib) need_arg "$@"; mib="$2"; shift ;;
  --loss) need_arg "$@"; loss="$2"; shift ;;
  --rate) need_arg "$@"; rate="$2"; shift ;;
  --cc) need_arg "$@"; cc="$2"; shift ;;
  --min-rto) need_arg "$@"; min_rto="$2"; shift ;;
  --kernel-cc) need_arg "$@"; kernel_cc="$2"; shift ;;
  --timeout) need_arg "$@"; timeout_s="$2"; shift ;;
  --bin) need_arg "$@"; bin="$2"; shift ;;
  --no-build) build=0 ;;
  --offloads) offloads=1 ;;
  --toytcp-receives) receives=1 ;;
  -h | --help) usage ;;
  *)
    echo "bench_router.sh: unknown option $1" >&2
    usage
    ;;
  esac
  shift
done

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
is_uint "$runs" && [ "$runs" -ge 1 ] || { echo "bench_router.sh: --runs wants a positive integer" >&2; exit 2; }
is_uint "$mib" && [ "$mib" -ge 1 ] || { echo "bench_router.sh: --mib wants a positive integer" >&2; exit 2; }
is_uint "$timeout_s" || { echo "bench_router.sh: --timeout wants seconds" >&2; exit 2; }
if [ -n "$loss" ] && ! [[ "$loss" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
  echo "bench_router.sh: --loss wants a percentage such as 1 or 0.5" >&2
  exit 2
fi
if [ -n "$rate" ] && ! [[ "$rate" =~ ^[0-9]+(\.[0-9]+)?[kmg]?(bit|bps)$ ]]; then
  echo "bench_router.sh: --rate wants a tc rate such as 100mbit" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "bench_router.sh: must run as root (network namespaces, iptables, tc): sudo $0 $*" >&2
  exit 1
fi
for tool in ip iptables ethtool tc socat ss timeout; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "bench_router.sh: missing $tool; install with: sudo apt-get install -y iproute2 iptables ethtool socat coreutils" >&2
    exit 1
  }
done

if [ "$build" -eq 1 ]; then
  (cd "$root" && cargo build --release -p toytcp-cli)
fi
[ -x "$bin" ] || {
  echo "bench_router.sh: no $bin; build it with: cargo build --release -p toytcp-cli" >&2
  exit 1
}

prefix="dbench$$-"
H1="${prefix}host1"
RT="${prefix}router"
H2="${prefix}host2"
work="$(mktemp -d /tmp/bench_router.XXXXXX)"
pids=()

cleanup() {
  local p ns
  # Everything still running in our namespaces was started by this script.
  for ns in "$H1" "$RT" "$H2"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do
      kill "$p" 2>/dev/null || true
    done
  done
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  "$here/netns.sh" --prefix "$prefix" down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$here/netns.sh" --prefix "$prefix" up >/dev/null
if [ "$offloads" -eq 0 ]; then
  for pair in "$H1 host1-veth1" "$RT router-veth1" "$RT router-veth2" "$H2 host2-veth1"; do
    read -r ns dev <<<"$pair"
    ip netns exec "$ns" ethtool -K "$dev" tx off tso off gso off gro off >/dev/null
  done
fi
offload_state="$(ip netns exec "$H1" ethtool -k host1-veth1 | awk -F': ' '
  /^tcp-segmentation-offload:/ { t = $2 } /^generic-segmentation-offload:/ { g = $2 }
  /^generic-receive-offload:/ { r = $2 } END { printf "tso %s, gso %s, gro %s", t, g, r }')"
if ! tr ' ' '\n' </proc/sys/net/ipv4/tcp_available_congestion_control | grep -qxF "$kernel_cc"; then
  echo "bench_router.sh: the kernel has no congestion control '$kernel_cc' (available: $(cat /proc/sys/net/ipv4/tcp_available_congestion_control))" >&2
  exit 1
fi
if [ -n "$loss" ]; then
  probability="$(awk -v p="$loss" 'BEGIN { printf "%.6f", p / 100 }')"
  ip netns exec "$RT" iptables -A FORWARD -i router-veth1 -o router-veth2 -p tcp \
    -m statistic --mode random --probability "$probability" -j DROP
fi
if [ -n "$rate" ]; then
  ip netns exec "$RT" tc qdisc replace dev router-veth2 root tbf rate "$rate" burst 32kb latency 20ms
fi

toy_args=()
[ -n "$cc" ] && toy_args+=(--cc "$cc")
[ -n "$min_rto" ] && toy_args+=(--min-rto "$min_rto")

bytes=$((mib * 1024 * 1024))
input="$work/input"
head -c "$bytes" /dev/urandom >"$input"

commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
dirty=""
[ -n "$(git -C "$root" status --porcelain -- crates 2>/dev/null)" ] && dirty=" (+ uncommitted changes)"
echo "bench_router.sh: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit$dirty, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  veths: tx checksum off, $offload_state"
echo "  $runs runs x $mib MiB; loss ${loss:-0} % (host1 -> host2 at the router); rate ${rate:-unlimited}$([ -n "$rate" ] && echo ' (tbf burst 32kb latency 20ms)')"
echo "  kernel sender: socat with TCP_CONGESTION=$kernel_cc (host1's default, net.ipv4.tcp_congestion_control: $(ip netns exec "$H1" sysctl -n net.ipv4.tcp_congestion_control))"
if [ "$receives" -eq 1 ]; then
  echo "  ToyTCP receiver: $bin listen${toy_args[*]:+ ${toy_args[*]}} 10.0.1.1 PORT </dev/null (kernel senders only)"
else
  echo "  ToyTCP sender: $bin connect${toy_args[*]:+ ${toy_args[*]}}"
fi

now() { date +%s.%N; }

# One transfer on PORT with SENDER (toytcp|kernel); sets mbs to its MB/s.
transfer() {
  local sender="$1" port="$2" count="$work/count.$2" rpid spid t0 t1 got i
  ip netns exec "$H2" sh -c "socat -u TCP-LISTEN:$port,bind=10.0.1.1,reuseaddr STDOUT | wc -c >'$count'" &
  rpid=$!
  pids+=("$rpid")
  for i in $(seq 100); do
    ip netns exec "$H2" ss -Hltn "sport = :$port" | grep -q . && break
    sleep 0.05
  done
  t0="$(now)"
  if [ "$sender" = toytcp ]; then
    timeout "$timeout_s" ip netns exec "$H1" "$bin" connect "${toy_args[@]}" 10.0.1.1 "$port" <"$input" >/dev/null &
  else
    timeout "$timeout_s" ip netns exec "$H1" socat -u STDIN \
      "TCP:10.0.1.1:$port,setsockopt-string=6:13:$kernel_cc" <"$input" &
  fi
  spid=$!
  pids+=("$spid")
  if [ "$sender" = kernel ] && [ -z "$kernel_cc_seen" ]; then
    # What the kernel really uses, from the socket while it sends.
    sleep 0.2
    kernel_cc_seen="$(ip netns exec "$H1" ss -Htin "dport = :$port" | grep -ow "$kernel_cc" | head -1 || true)"
    echo "  kernel sender's socket (ss -ti): ${kernel_cc_seen:-gone before it was sampled}"
  fi
  # The receiver ends at the sender's FIN; the sender may linger a little
  # longer for its last ACK, which is not part of the transfer.
  if ! wait "$rpid"; then
    echo "bench_router.sh: the receiver on port $port failed" >&2
    return 1
  fi
  t1="$(now)"
  if ! wait "$spid"; then
    echo "bench_router.sh: the $sender sender on port $port failed or timed out after ${timeout_s}s" >&2
    return 1
  fi
  got="$(tr -d ' \n' <"$count")"
  if [ "$got" != "$bytes" ]; then
    echo "bench_router.sh: $sender: received $got bytes, sent $bytes" >&2
    return 1
  fi
  mbs="$(awk -v b="$bytes" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.1f", b / (t1 - t0) / 1e6 }')"
}

# One kernel → RECEIVER (toytcp|kernel) transfer on PORT (--toytcp-receives);
# sets mbs to its MB/s, timed to the receiving side's last byte.
receive_transfer() {
  local receiver="$1" port="$2" count="$work/count.$2" stamp="$work/t1.$2" err="$work/listen.$2"
  local status="$work/status.$2"
  local rpid spid t0 t1 got i ready=0
  # `head -c` ends at the last byte and stamps the time; its reader (wc)
  # counts what came. The receiver process may live on a little longer.
  local reader="{ head -c $bytes | wc -c >'$count'; date +%s.%N >'$stamp'; }"
  if [ "$receiver" = toytcp ]; then
    # A pipeline's status is its last command's: keep toytcp-cli's own.
    ip netns exec "$H2" sh -c "{ '$bin' listen ${toy_args[*]} 10.0.1.1 $port </dev/null 2>'$err'; echo \$? >'$status'; } | $reader" &
  else
    ip netns exec "$H2" sh -c "socat -u TCP-LISTEN:$port,bind=10.0.1.1,reuseaddr STDOUT | $reader" &
  fi
  rpid=$!
  pids+=("$rpid")
  for i in $(seq 100); do
    if [ "$receiver" = toytcp ]; then
      grep -q '^listening on' "$err" 2>/dev/null && ready=1
    else
      ip netns exec "$H2" ss -Hltn "sport = :$port" | grep -q . && ready=1
    fi
    [ "$ready" -eq 1 ] && break
    sleep 0.05
  done
  if [ "$ready" -ne 1 ]; then
    echo "bench_router.sh: the $receiver receiver on port $port did not start listening" >&2
    [ -f "$err" ] && cat "$err" >&2
    return 1
  fi
  t0="$(now)"
  timeout "$timeout_s" ip netns exec "$H1" socat -u STDIN \
    "TCP:10.0.1.1:$port,setsockopt-string=6:13:$kernel_cc" <"$input" &
  spid=$!
  pids+=("$spid")
  if [ -z "$kernel_cc_seen" ]; then
    sleep 0.2
    kernel_cc_seen="$(ip netns exec "$H1" ss -Htin "dport = :$port" | grep -ow "$kernel_cc" | head -1 || true)"
    echo "  kernel sender's socket (ss -ti): ${kernel_cc_seen:-gone before it was sampled}"
  fi
  if ! timeout "$timeout_s" sh -c "while [ ! -s '$stamp' ]; do sleep 0.01; done"; then
    echo "bench_router.sh: the $receiver receiver on port $port got no end of stream within ${timeout_s}s" >&2
    return 1
  fi
  t1="$(cat "$stamp")"
  if ! wait "$spid"; then
    echo "bench_router.sh: the kernel sender on port $port failed or timed out after ${timeout_s}s" >&2
    return 1
  fi
  if ! wait "$rpid" || { [ "$receiver" = toytcp ] && [ "$(cat "$status" 2>/dev/null)" != 0 ]; }; then
    echo "bench_router.sh: the $receiver receiver on port $port failed" >&2
    [ -f "$err" ] && cat "$err" >&2
    return 1
  fi
  got="$(tr -d ' \n' <"$count")"
  if [ "$got" != "$bytes" ]; then
    echo "bench_router.sh: kernel -> $receiver: received $got bytes, sent $bytes" >&2
    return 1
  fi
  mbs="$(awk -v b="$bytes" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.1f", b / (t1 - t0) / 1e6 }')"
}

median() {
  tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.1f", v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

toy=""
kern=""
kernel_cc_seen=""
port=$port_base
for run in $(seq "$runs"); do
  if [ $((run % 2)) -eq 1 ]; then order="toytcp kernel"; else order="kernel toytcp"; fi
  for who in $order; do
    port=$((port + 1))
    if [ "$receives" -eq 1 ]; then
      receive_transfer "$who" "$port" || exit 1
      printf '  run %d kernel -> %-6s %8s MB/s\n' "$run" "$who" "$mbs"
    else
      transfer "$who" "$port" || exit 1
      printf '  run %d %-6s %8s MB/s\n' "$run" "$who" "$mbs"
    fi
    if [ "$who" = toytcp ]; then toy="$toy $mbs"; else kern="$kern $mbs"; fi
  done
done

toy_med="$(echo "$toy" | median)"
kern_med="$(echo "$kern" | median)"
ratio="$(awk -v a="$toy_med" -v b="$kern_med" 'BEGIN { printf "%.2f", a / b }')"
if [ "$receives" -eq 1 ]; then
  echo "kernel -> ToyTCP: median $toy_med MB/s (runs:$toy)"
  echo "kernel -> kernel: median $kern_med MB/s (runs:$kern)"
  echo "ratio ToyTCP receiver / kernel receiver (medians): $ratio"
else
  echo "ToyTCP -> kernel: median $toy_med MB/s (runs:$toy)"
  echo "kernel -> kernel: median $kern_med MB/s (runs:$kern)"
  echo "ratio ToyTCP / kernel (medians): $ratio"
fi
if [ -n "$loss" ]; then
  dropped="$(ip netns exec "$RT" iptables -L FORWARD -v -x -n | awk '/statistic/ { print $1; exit }')"
  echo "router: the loss rule dropped ${dropped:-?} packets over all runs"
fi
if [ -n "$rate" ]; then
  echo "router: $(ip netns exec "$RT" tc -s qdisc show dev router-veth2 | grep -m1 -o 'Sent .*')"
fi
