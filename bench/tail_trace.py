#!/usr/bin/python3
"""bench/tail_trace.py: where a closed loop's p99 comes from, read from the
trace `build/bench/http_load --trace FILE` writes (docs/concurrency.md).

usage: tail_trace.py TRACE [--bin-ms 1]

Prints, one "key value" per line:
  requests, connections, seconds, req_per_s, mean_ms, p99_ms, little_ms,
  p99_over_little       the run as http_load's line gives it;
  p99_from_due_over_little
                        the same with each latency counted from when the
                        request was due (the previous answer read) rather
                        than from its first byte written;
  send_lag_mean_ms, send_lag_p99_ms
                        due to written: this client's own delay in sending;
  conn_mean_spread      slowest connection's mean latency / fastest's;
  conn_mean_gap         the widest gap between consecutive sorted
                        per-connection means, as a share of the median mean
                        (a bimodal split by event loop shows as a large gap);
  within_p99            p99 of (latency / its own connection's mean): the
                        tail left when every connection's mean is divided out;
  between_p99           p99 of the connections' means / the overall mean;
  stall_share_Nms       share of the run covered by stretches of N ms or more
                        with no answer completed (N = 2, 5, 10);
  stall_max_ms          the longest such stretch;
  slow_in_stall         share of the requests above the p99 whose time in
                        flight overlapped a stall of 2 ms or more;
  client_busy_share     share of the run this client spent outside
                        epoll_wait (reading answers, sending requests);
  client_busy_p99_ms, client_busy_max_ms
                        its stretches between two epoll_waits: an answer
                        that arrives during one waits for it to end;
  client_idle_share     share of the run in epoll_waits that returned after
                        blocking 0.2 ms or more (waiting for the server).
Needs no numpy: runs on a bare Debian 12 python3.
"""
import math
import sys


def quantile(sorted_xs, q):
    if not sorted_xs:
        return math.nan
    i = math.ceil(q * len(sorted_xs))
    return sorted_xs[max(i - 1, 0)]


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    reqs, waits, dues = [], [], []
    with open(argv[1]) as f:
        for line in f:
            p = line.split("\t")
            if p[0] == "r":
                reqs.append((int(p[1]), float(p[3]), float(p[4])))
                dues.append(float(p[3]) - float(p[2]))
            elif p[0] == "w":
                waits.append((float(p[1]), float(p[2]), int(p[3])))
    if not reqs:
        sys.exit("tail_trace.py: no requests in the trace")
    out = {}
    lat = sorted(e - s for _, s, e in reqs)
    conns = {}
    for c, s, e in reqs:
        conns.setdefault(c, []).append(e - s)
    end = max(e for _, _, e in reqs)
    secs = end / 1e6
    rps = len(reqs) / secs
    mean = sum(lat) / len(lat)
    little = len(conns) / rps * 1e6
    out["requests"] = len(reqs)
    out["connections"] = len(conns)
    out["seconds"] = secs
    out["req_per_s"] = rps
    out["mean_ms"] = mean / 1e3
    out["p99_ms"] = quantile(lat, 0.99) / 1e3
    out["little_ms"] = little / 1e3
    out["p99_over_little"] = quantile(lat, 0.99) / little
    # the latency as this client measured it before it stamped the write:
    # from the previous answer read, so its own turn counted
    from_due = sorted(x + d for x, d in zip((e - s for _, s, e in reqs), dues))
    out["p99_from_due_over_little"] = quantile(from_due, 0.99) / little
    dues.sort()
    out["send_lag_mean_ms"] = sum(dues) / len(dues) / 1e3
    out["send_lag_p99_ms"] = quantile(dues, 0.99) / 1e3

    cmean = {c: sum(v) / len(v) for c, v in conns.items()}
    ms = sorted(cmean.values())
    out["conn_mean_spread"] = ms[-1] / ms[0]
    med = quantile(ms, 0.5)
    out["conn_mean_gap"] = max((b - a for a, b in zip(ms, ms[1:])), default=0) / med
    out["within_p99"] = quantile(sorted((e - s) / cmean[c] for c, s, e in reqs), 0.99)
    out["between_p99"] = quantile(ms, 0.99) / mean

    # stalls: stretches with no completion
    done = sorted(e for _, _, e in reqs)
    gaps = [(a, b) for a, b in zip(done, done[1:])]
    for n in (2, 5, 10):
        out[f"stall_share_{n}ms"] = sum(b - a for a, b in gaps if b - a >= n * 1e3) / end
    out["stall_max_ms"] = max(b - a for a, b in gaps) / 1e3
    stalls = [(a, b) for a, b in gaps if b - a >= 2e3]
    p99 = quantile(lat, 0.99)
    slow = sorted((s, e) for _, s, e in reqs if e - s > p99)
    hit, j = 0, 0
    for s, e in slow:  # both sorted by start: a sweep
        while j < len(stalls) and stalls[j][1] < s:
            j += 1
        k = j
        while k < len(stalls) and stalls[k][0] < e:
            if stalls[k][1] > s:
                hit += 1
                break
            k += 1
    out["slow_in_stall"] = hit / len(slow) if slow else 0.0

    # the client: time outside epoll_wait, and the waits that blocked
    if waits:
        busy = sorted(b[0] - a[1] for a, b in zip(waits, waits[1:]) if b[0] >= a[1])
        out["client_busy_share"] = sum(busy) / end
        out["client_busy_p99_ms"] = quantile(busy, 0.99) / 1e3
        out["client_busy_max_ms"] = (busy[-1] if busy else 0) / 1e3
        out["client_idle_share"] = sum(r - c for c, r, _ in waits if r - c >= 200) / end
    for k, v in out.items():
        print(f"{k}\t{v:.4g}" if isinstance(v, float) else f"{k}\t{v}")


if __name__ == "__main__":
    main(sys.argv)
