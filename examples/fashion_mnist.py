#!/usr/bin/python3
"""Fashion-MNIST trained through gradserve with the Python client.

The recipe of issue 17: a 784-256-128-10 ReLU network, cross-entropy, Adam (lr 1e-3),
mini-batches of 128, 2 epochs; the 60,000 training images sent in chunks of 10,000
rows, one /train per chunk, params and optimizer state carried from call to call;
then the accuracy on the 10,000 test images.

With the default transport ("ref") each chunk's images are uploaded once, by their
SHA-256, and every /train after that is a few KB of JSON: the weights and Adam's
moments stay in the server's tensor store until the end.

usage: examples/fashion_mnist.py [--url http://127.0.0.1:8080] [--transport ref|binary|b64]
Needs Debian's python3-numpy and dataset-fashion-mnist.
"""
import argparse
import gzip
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
import gradserve  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"
NETWORK = {
    "inputs": 784,
    "layers": [{"units": 256, "activation": "relu"},
               {"units": 128, "activation": "relu"},
               {"units": 10, "activation": "linear"}],  # logits
    "loss": "cross_entropy",
}
OPTIMIZER = {"name": "adam", "lr": 1e-3}
BATCH, CHUNK, EPOCHS = 128, 10000, 2
MEAN, STD = 0.2860, 0.3530  # of the training images, after / 255


def idx(name):
    """An IDX file of the dataset (big-endian dimensions, then uint8 data)."""
    with gzip.open(f"{DATA}/{name}", "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load():
    """Training images [60000, 784] and labels [60000], test [10000, 784] and [10000];
    images standardized float32, labels int64 class indices."""
    def images(name):
        x = idx(name).reshape(-1, 784).astype(np.float32) / 255.0
        return ((x - MEAN) / STD).astype(np.float32)
    return (images("train-images-idx3-ubyte.gz"), idx("train-labels-idx1-ubyte.gz").astype(np.int64),
            images("t10k-images-idx3-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))


def initial_params(client, seed=1):
    """The network's initial weights, from the server's seeded init (one /forward)."""
    r = client.forward(NETWORK, np.zeros((1, 784), np.float32), init={"seed": seed})
    return r["params"]


def train(client, params, x_train, y_train, x_test, y_test):
    """The recipe through client from params; the trainer and the test accuracy."""
    trainer = gradserve.Trainer(client, NETWORK, params=params, optimizer=OPTIMIZER,
                                batch_size=BATCH, chunk_rows=CHUNK)
    trainer.fit(x_train, y_train, epochs=EPOCHS)
    return trainer, trainer.accuracy(x_test, y_test)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--transport", default="ref", choices=["ref", "binary", "b64"])
    a = ap.parse_args()
    x_train, y_train, x_test, y_test = load()
    with gradserve.Client(a.url, transport=a.transport) as client:
        params = initial_params(client)
        t0 = time.perf_counter()
        trainer, accuracy = train(client, params, x_train, y_train, x_test, y_test)
        seconds = time.perf_counter() - t0
        print(f"{trainer.requests} /train requests ({a.transport}), {seconds:.1f} s, "
              f"loss {trainer.loss_history[0]:.3f} -> {trainer.loss_history[-1]:.3f}, "
              f"test accuracy {100 * accuracy:.2f}%")
        print(f"on the wire: {client.bytes_sent / 1e6:.1f} MB sent, "
              f"{client.bytes_received / 1e6:.1f} MB received")


if __name__ == "__main__":
    main()
