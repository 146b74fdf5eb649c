#!/usr/bin/python3
"""Request bodies for bench/http.sh, written into a directory.

  small.json            2-4-1 /gradients (the XOR net of the README), nested JSON
  big-nested.json       784-512-512-10, batch 1000, /gradients with params, nested
                        arrays of the float32 values as Python prints them (json.dumps
                        of ndarray.tolist(): the shortest text of each as a double,
                        mostly 17 digits), response "encoding": "nested"
  big-b64.json          the same tensors as {"shape", "dtype", "b64"}, "encoding": "b64"
  big-binary.bin        the same as a binary body: the JSON header (tensors as
                        {"shape", "dtype": "float32", "binary_data_size"}) then the
                        little-endian bytes in the header's order, "encoding": "binary";
  big-binary.len        the header's length (the Inference-Header-Content-Length)

Targets are class labels (cross-entropy on logits, as bench_core's 784-input nets),
written as a plain JSON array in every variant. Weights follow nn.Linear's default
initialisation, inputs are uniform in [0, 1), from a fixed seed.

usage: http_bodies.py DIR
"""
import base64
import json
import os
import sys

import numpy as np


def network(sizes):
    layers = [{"units": u, "activation": "relu"} for u in sizes[1:-1]]
    layers.append({"units": sizes[-1], "activation": "linear"})
    return {"inputs": sizes[0], "layers": layers, "loss": "cross_entropy"}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    small = {
        "network": {"inputs": 2, "layers": [{"units": 4, "activation": "tanh"},
                                            {"units": 1, "activation": "sigmoid"}],
                    "loss": "binary_cross_entropy"},
        "params": [{"weight": [[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6], [0.7, -0.8]],
                    "bias": [0, 0, 0, 0]},
                   {"weight": [[0.5, -0.5, 0.25, -0.25]], "bias": [0]}],
        "inputs": [[0, 0], [0, 1], [1, 0], [1, 1]],
        "targets": [[0], [1], [1], [0]],
    }
    with open(os.path.join(out, "small.json"), "w") as f:
        json.dump(small, f, separators=(",", ":"))

    rng = np.random.default_rng(7)
    sizes, rows = [784, 512, 512, 10], 1000
    params = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        b = 1 / np.sqrt(i)
        params.append((rng.uniform(-b, b, (o, i)).astype(np.float32),
                       rng.uniform(-b, b, (o,)).astype(np.float32)))
    x = rng.uniform(0, 1, (rows, sizes[0])).astype(np.float32)
    labels = rng.integers(0, sizes[-1], rows).tolist()

    def body(tensor, encoding):
        return {"network": network(sizes),
                "params": [{"weight": tensor(w), "bias": tensor(b)} for w, b in params],
                "inputs": tensor(x), "targets": labels, "encoding": encoding}

    with open(os.path.join(out, "big-nested.json"), "w") as f:
        json.dump(body(lambda a: a.tolist(), "nested"), f, separators=(",", ":"))

    def b64(a):
        return {"shape": list(a.shape), "dtype": "float32",
                "b64": base64.b64encode(a.astype("<f4").tobytes()).decode()}
    with open(os.path.join(out, "big-b64.json"), "w") as f:
        json.dump(body(b64, "b64"), f, separators=(",", ":"))

    parts = []  # in the order the header names them: json.dumps keeps key order

    def binary(a):
        raw = a.astype("<f4").tobytes()
        parts.append(raw)
        return {"shape": list(a.shape), "dtype": "float32", "binary_data_size": len(raw)}
    header = json.dumps(body(binary, "binary"), separators=(",", ":")).encode()
    with open(os.path.join(out, "big-binary.bin"), "wb") as f:
        f.write(header)
        for p in parts:
            f.write(p)
    with open(os.path.join(out, "big-binary.len"), "w") as f:
        f.write(str(len(header)))


if __name__ == "__main__":
    main()
