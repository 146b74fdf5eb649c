#!/usr/bin/env python3
"""Data-parallel gradients over gradserve replicas (Python standard library only).

Splits a batch into row shards, sends one POST /gradients per shard at the same
time (threads; through a load balancer they land on different replicas), and
adds the answers up. With "reduction": "sum" the loss and every gradient of the
whole batch are exactly the sums over the shards (the loss is a sum over rows,
and so is every gradient). With "mean" each shard's answer is weighted by its
share of the rows.

  shard_client.py [--url URL] [--shards N] [--check] [REQUEST.json | -]

REQUEST is a /gradients request body (as for curl -d @REQUEST); without one a
built-in demo batch is used. Prints {"loss", "gradients", "shards"} as JSON.
--check also sends the whole batch in one request and compares: exit status 1
when any value differs by more than --tol (relative to the largest magnitude
of its tensor).
"""

import argparse
import base64
import json
import random
import struct
import sys
import threading
import time
import urllib.error
import urllib.request


# ----------------------------------------------------------------- tensors
def to_flat(t):
    """Any of the API's tensor encodings -> (shape, list of floats)."""
    if isinstance(t, dict):
        shape = list(t["shape"])
        if "data" in t:
            return shape, [float(v) for v in t["data"]]
        fmt = {"float32": "f", "float64": "d"}[t.get("dtype", "float32")]
        raw = base64.b64decode(t["b64"])
        n = len(raw) // struct.calcsize(fmt)
        return shape, list(struct.unpack("<%d%s" % (n, fmt), raw))
    shape, data = [], []

    def walk(v, depth):
        if isinstance(v, list):
            if len(shape) <= depth:
                shape.append(len(v))
            for x in v:
                walk(x, depth + 1)
        else:
            data.append(v)

    walk(t, 0)
    return shape, data


def to_nested(shape, data):
    if len(shape) <= 1:
        return list(data)
    step = len(data) // shape[0] if shape[0] else 0
    return [to_nested(shape[1:], data[i * step:(i + 1) * step]) for i in range(shape[0])]


def split_rows(t, bounds):
    """Rows [a, b) of tensor t for each (a, b), as nested arrays."""
    shape, data = to_flat(t)
    per_row = len(data) // shape[0] if shape and shape[0] else 0
    return [to_nested([b - a] + shape[1:], data[a * per_row:b * per_row]) for a, b in bounds]


# ------------------------------------------------------------------- HTTP
def post(url, body, attempts=5, timeout=120):
    """POST JSON; retries 503 (saturated/draining) after its Retry-After."""
    data = json.dumps(body).encode()
    for attempt in range(attempts):
        req = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            if e.code == 503 and attempt + 1 < attempts:
                time.sleep(min(float(e.headers.get("Retry-After") or 1), 5))
                continue
            raise RuntimeError("%s -> %d %s" % (url, e.code, detail)) from None
    raise RuntimeError("unreachable")


# ----------------------------------------------------------------- shards
def sharded_gradients(base_url, request, shards):
    rows = to_flat(request["inputs"])[0][0]
    shards = max(1, min(shards, rows))
    bounds = [(rows * i // shards, rows * (i + 1) // shards) for i in range(shards)]
    inputs = split_rows(request["inputs"], bounds)
    targets = split_rows(request["targets"], bounds)
    reduction = request["network"].get("reduction", "mean")
    if reduction not in ("sum", "mean"):
        raise ValueError("reduction must be sum or mean")

    answers, errors = [None] * shards, []

    def work(i):
        body = dict(request, inputs=inputs[i], targets=targets[i])
        body.pop("return", None)      # only loss and gradients are summed
        body["encoding"] = "flat"
        try:
            answers[i] = post(base_url + "/gradients", body)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append("shard %d: %s" % (i, e))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(shards)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("; ".join(errors))

    # sum: weights 1. mean: the whole batch's mean is the row-weighted mean of
    # the shards' means (every loss averages over rows x a fixed width).
    weights = [1.0 if reduction == "sum" else (b - a) / rows for a, b in bounds]
    loss = sum(w * a["loss"] for w, a in zip(weights, answers))
    grads = []
    for layer in range(len(answers[0]["gradients"])):
        out = {}
        for name in ("weight", "bias"):
            shape, acc = to_flat(answers[0]["gradients"][layer][name])
            acc = [weights[0] * v for v in acc]
            for w, a in zip(weights[1:], answers[1:]):
                _, d = to_flat(a["gradients"][layer][name])
                acc = [x + w * y for x, y in zip(acc, d)]
            out[name] = to_nested(shape, acc)
        grads.append(out)
    return {"loss": loss, "gradients": grads, "shards": [b - a for a, b in bounds]}


def max_rel_diff(x, y):
    """Largest |x - y| over the tensor, relative to its largest magnitude."""
    _, a = to_flat(x)
    _, b = to_flat(y)
    if len(a) != len(b):
        return float("inf")
    scale = max([abs(v) for v in a + b] + [1e-30])
    return max([abs(p - q) for p, q in zip(a, b)] + [0.0]) / scale


def demo_request(rows=96, seed=7):
    rng = random.Random(seed)
    xs = [[rng.uniform(-2, 2) for _ in range(5)] for _ in range(rows)]
    ys = [[1.0 if sum(x) > 0 else 0.0, x[0] * x[1]] for x in xs]
    return {
        "network": {"inputs": 5,
                    "layers": [{"units": 16, "activation": "tanh"},
                               {"units": 8, "activation": "relu"},
                               {"units": 2, "activation": "linear"}],
                    "loss": "mse", "reduction": "sum"},
        "dtype": "float64",
        "init": {"scheme": "xavier_uniform", "seed": 3},
        "inputs": xs,
        "targets": ys,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("request", nargs="?", help="request JSON file, or - for stdin")
    ap.add_argument("--url", default="http://127.0.0.1:8080", help="load balancer base URL")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--check", action="store_true", help="compare with one whole-batch request")
    ap.add_argument("--tol", type=float, default=None,
                    help="relative tolerance for --check (default 1e-9 float64, 1e-4 float32)")
    args = ap.parse_args()

    if args.request == "-":
        request = json.load(sys.stdin)
    elif args.request:
        with open(args.request) as f:
            request = json.load(f)
    else:
        request = demo_request()
    base = args.url.rstrip("/")

    result = sharded_gradients(base, request, args.shards)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    if not args.check:
        return 0

    whole = post(base + "/gradients", dict(request, encoding="flat"))
    tol = args.tol if args.tol is not None else (
        1e-9 if request.get("dtype") == "float64" else 1e-4)
    worst = abs(whole["loss"] - result["loss"]) / max(abs(whole["loss"]), 1e-30)
    for lw, ls in zip(whole["gradients"], result["gradients"]):
        for name in ("weight", "bias"):
            worst = max(worst, max_rel_diff(lw[name], ls[name]))
    ok = worst <= tol and len(whole["gradients"]) == len(result["gradients"])
    print("check: %d shards %s vs whole batch: max relative difference %.3g (tolerance %g): %s"
          % (len(result["shards"]), result["shards"], worst, tol, "ok" if ok else "MISMATCH"),
          file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
