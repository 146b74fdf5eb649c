#!/usr/bin/python3
"""Training through the load balancer with refs while a replica dies (docker/test.sh).

A Trainer on the "ref" transport with an affinity key trains a small classifier
through nginx, chunk by chunk, so the weights and Adam's moments live only in the
store of the replica the key hashes to. After the first epoch --kill runs (a shell
command that kills that replica); the second epoch's requests reach the other
replica, whose store holds none of the refs: its 409s make the client upload the
chunks again and the trainer recompute the weights it lost. The same training
straight to --reference (one replica, binary bodies, no refs) must give the same
bits.

usage: failover_train.py --url http://lb --reference http://replica --kill 'docker kill ID'
Prints "failover: ok (...)" and exits 0, or says what differs and exits 1.
"""
import argparse
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "clients", "python"))
import gradserve  # noqa: E402

NET = {"inputs": 20, "layers": [{"units": 64, "activation": "relu"},
                                {"units": 4, "activation": "linear"}], "loss": "cross_entropy"}


def trainer(client):
    return gradserve.Trainer(client, NET, init={"seed": 3}, optimizer={"name": "adam", "lr": 0.01},
                             batch_size=50, chunk_rows=500)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--kill", required=True)
    ap.add_argument("--affinity", default="failover-test")
    a = ap.parse_args()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2000, 20)).astype(np.float32)
    y = (x[:, :2] > 0).dot([1, 2]).astype(np.int64)  # 4 classes

    with gradserve.Client(a.url, transport="ref", affinity=a.affinity) as c:
        t = trainer(c)
        t.fit(x, y, epochs=1)
        # The affinity header kept every request on one replica: no 409 so far.
        before = (c.stats["conflicts"], t.replays)
        subprocess.run(a.kill, shell=True, check=True, stdout=subprocess.DEVNULL)
        t.fit(x, y, epochs=1)
        got, stats, replays = t.weights(), dict(c.stats), t.replays
    with gradserve.Client(a.reference, transport="binary") as c:
        r = trainer(c)
        r.fit(x, y, epochs=2)
        want = r.weights()
    same = all(np.array_equal(p[k], q[k]) for p, q in zip(got, want) for k in p)
    same_loss = t.loss_history == r.loss_history
    # The other replica held nothing: the chunks went again on its 409 (conflicts)
    # and the weights only the killed one held were recomputed (replays).
    ok = same and same_loss and replays >= 1 and stats["conflicts"] >= 1 and before == (0, 0)
    print(f"failover: {'ok' if ok else 'FAILED'} (before the kill: 409s {before[0]}, replays "
          f"{before[1]}; after: replays {replays}, "
          f"409s healed by upload {stats['conflicts']}, uploads {stats['uploads']}, "
          f"weights {'bit-identical' if same else 'DIFFERENT'}, losses "
          f"{'equal' if same_loss else 'DIFFERENT'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
