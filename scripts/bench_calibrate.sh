#!/usr/bin/env bash
# `make bench-calibrate`: how well `pflab calibrate` recovers a network it did not shape itself.
#
# 1. Against `pflab serve` shaped with known values (lognormal first-byte latency, per-connection
#    bandwidth, a link limit): the fitted median must be within 10%, the p99 within 25%, the
#    per-request bandwidth within 5% (issue 16), the link within 10%.
# 2. Against shaping the kernel adds: `pflab serve` runs unshaped in a network namespace behind a veth
#    pair, and `tc` on the host side adds a token-bucket rate (tbf) and, where the kernel has sch_netem,
#    a constant delay. Needs root (CAP_NET_ADMIN) and iproute2; where the machine cannot, the part says
#    SKIPPED and why. Per-request bandwidth (one TCP connection through the bucket) must be within 5% of
#    the rate, and the delay, when added, within 10% of the fitted median and of the fitted connection
#    setup (a TCP handshake waits one delay for the server's SYN-ACK).
# Prints one line per number: true, fitted, 95% interval, ratio, tolerance. Exits 1 when a number is out.
set -euo pipefail

PFLAB=${PFLAB:-build/pflab}
PROBES=${PROBES:-300}
PY=/usr/bin/python3
work=$(mktemp -d)
serve_pid=""
ns="pflab-cal-$$"
veth_host="pfc$$h"
failed=0

cleanup() {
  if [[ -n "$serve_pid" ]]; then kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
  ip link del "$veth_host" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# check FILE NAME FIELD TRUE TOLERANCE: compares one fitted field of the profile with the truth.
check() {
  "$PY" - "$@" <<'EOF' || failed=1
import json, sys
path, field, truth, tol = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
doc = json.load(open(path))
(name, p), = doc["profiles"].items()
f = p["calibration"]["fields"][field]
v, (lo, hi) = f["value"], f["ci95"]
ratio = v / truth
ok = abs(ratio - 1) <= tol
hi_text = "inf" if hi is None else f"{hi:.3f}"
print(f"  {field:17} true {truth:10.3f} {f['unit']:5} fitted {v:10.3f} (95% {lo:.3f}-{hi_text})"
      f"  ratio {ratio:.3f}  tolerance {tol:.0%}  {'ok' if ok else 'OUT'}")
sys.exit(0 if ok else 1)
EOF
}

start_server() {  # start_server [ip netns exec NS] pflab serve ARGS: sets serve_pid and url
  # A file of its own per start: a later server's truncation could race a check of the earlier's URL.
  local out="$work/url.$RANDOM"
  "$@" >"$out" 2>"$work/serve.err" &
  serve_pid=$!
  for _ in $(seq 100); do
    [[ -s "$out" ]] && break
    sleep 0.1
  done
  url=$(head -1 "$out")
  [[ -n "$url" ]] || { echo "pflab serve did not start:"; cat "$work/serve.err"; exit 1; }
}

stop_server() {
  kill "$serve_pid" 2>/dev/null || true
  wait "$serve_pid" 2>/dev/null || true
  serve_pid=""
}

echo "== pflab serve --latency 30ms:120ms --bandwidth 100MB/s --link-bandwidth 250MB/s"
start_server "$PFLAB" serve --synthetic bench/obj=1GiB --latency 30ms:120ms --bandwidth 100MB/s \
  --link-bandwidth 250MB/s --threads 2
"$PFLAB" calibrate "$url/bench/obj" -o "$work/serve.json" --probes "$PROBES" --max-connections 8 \
  --verify-synthetic -q
check "$work/serve.json" latency_median 30 0.10
check "$work/serve.json" latency_p99 120 0.25
check "$work/serve.json" stream_bandwidth 100 0.05
check "$work/serve.json" link_bandwidth 250 0.10
stop_server

echo "== kernel shaping: tc on a veth pair into a network namespace"
skip() { echo "  SKIPPED: $1"; }
if [[ $(id -u) -ne 0 ]]; then
  skip "not root (creating a network namespace and shaping with tc needs CAP_NET_ADMIN)"
elif ! command -v ip >/dev/null || ! command -v tc >/dev/null; then
  skip "iproute2 (ip, tc) is not installed"
elif ! ip netns add "$ns" 2>"$work/err"; then
  skip "cannot create a network namespace: $(cat "$work/err")"
else
  ip link add "$veth_host" type veth peer name "pfc$$n"
  ip link set "pfc$$n" netns "$ns"
  ip addr add 10.213.0.1/24 dev "$veth_host"
  ip link set "$veth_host" up
  ip -n "$ns" addr add 10.213.0.2/24 dev "pfc$$n"
  ip -n "$ns" link set "pfc$$n" up
  ip -n "$ns" link set lo up
  rate_mbit=400  # 50 MB/s
  delay_ms=25
  # The delay, where the kernel has netem: on the server's side, so it delays each response's first
  # packet (and the rest of the body, which does not change its rate).
  # The delay, where the kernel has netem, and the rate (a token bucket) both on the namespace side's
  # egress: the bodies flow from the server, so that is where they are shaped.
  if tc -n "$ns" qdisc add dev "pfc$$n" root handle 1: netem delay "${delay_ms}ms" 2>"$work/err"; then
    have_delay=1
    tc -n "$ns" qdisc add dev "pfc$$n" parent 1:1 handle 10: tbf rate "${rate_mbit}mbit" burst 64kb latency 400ms
  else
    have_delay=0
    echo "  no delay: tc netem failed ($(tr -d '\n' <"$work/err")): this kernel lacks sch_netem; rate only"
    tc -n "$ns" qdisc add dev "pfc$$n" root tbf rate "${rate_mbit}mbit" burst 64kb latency 400ms
  fi
  tc -n "$ns" qdisc show dev "pfc$$n" | sed 's/^/  qdisc: /'
  start_server ip netns exec "$ns" "$PFLAB" serve --host 10.213.0.2 --synthetic bench/obj=1GiB --threads 2
  "$PFLAB" calibrate "$url/bench/obj" -o "$work/kernel.json" --probes $((PROBES / 3)) --max-connections 4 \
    --bandwidth-probes 4 --verify-synthetic -q
  # tbf counts Ethernet frames; the body is about 1448/1514 of the bytes on the wire (TCP timestamps on).
  wire=$(awk "BEGIN { print $rate_mbit / 8 * 1448 / 1514 }")
  check "$work/kernel.json" stream_bandwidth "$wire" 0.05
  check "$work/kernel.json" link_bandwidth "$wire" 0.10
  if [[ $have_delay == 1 ]]; then
    check "$work/kernel.json" latency_median "$delay_ms" 0.10
    # A TCP handshake waits for the server's SYN-ACK, which leaves through the delay: one delay.
    check "$work/kernel.json" connect_overhead "$delay_ms" 0.10
  fi
  stop_server
fi
exit $failed
