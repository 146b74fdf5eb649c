"""Training over /train in chunks, the weights and optimizer state carried along.

One /train request per chunk of rows (epochs 1 each), the answer's params and
optimizer_state sent with the next chunk: the steps are exactly those of one
long run over the same rows in the same order (docs/api.md, "Train").

With the client's "ref" transport the chunks are uploaded once and every request
is small JSON: params and optimizer state stay in the server's store (answered
as refs) and come to this process only when `weights()` or `checkpoint()` asks.
If the server loses tensors only it had (a replica restarted, or another took
over), the trainer sends the requests since its last checkpoint again: every
request means the same bytes, so they give back the same tensors, and the run
goes on with the weights it would have had.
"""
import numpy as np

from .client import ProblemError, Ref

__all__ = ["Trainer"]


class Trainer:
    """Trains `network` through `client`.

    params: the initial weights (a list of {"weight", "bias", ...} arrays), or None
      to let the first request initialise them from `init` ({"scheme", "seed"}).
    optimizer: /train's optimizer ({"name": "adam", "lr": 1e-3} by default).
    batch_size: rows per step; chunk_rows: rows per request (a multiple of
      batch_size keeps the steps those of one long run).
    Other keyword arguments go into every /train request (dtype="float64", ...).
    """

    def __init__(self, client, network, *, params=None, init=None, optimizer=None,
                 batch_size=128, chunk_rows=10000, **fields):
        if params is None and init is None:
            init = {"seed": 1}
        self.client, self.network = client, network
        self.optimizer = optimizer or {"name": "adam", "lr": 1e-3}
        self.batch_size, self.chunk_rows, self.fields = batch_size, chunk_rows, fields
        self.params, self.state, self.init = params, None, init
        self.loss_history = []
        self.requests = 0
        self.replays = 0
        # What the trainer can always send again: the last checkpoint (params and
        # state whose bytes this process holds, or the init) and the chunks since.
        self._base = (params, None, init)
        self._since = []

    def fit(self, inputs, targets, epochs=1):
        """Trains on inputs [rows, ...] and targets (class indices or [rows, outputs])
        for epochs passes, one /train per chunk; returns self."""
        if len(inputs) != len(targets):
            raise ValueError(f"inputs have {len(inputs)} rows, targets {len(targets)}")
        chunks = []
        for start in range(0, len(inputs), self.chunk_rows):
            x, y = inputs[start:start + self.chunk_rows], targets[start:start + self.chunk_rows]
            if self.client.transport == "ref":
                x, y = self.client.upload(x), self.client.upload(np.asarray(y))
            chunks.append((x, y))
        for _ in range(epochs):
            for x, y in chunks:
                self._since.append((x, y))
                self._train(x, y)
        return self

    def _train(self, x, y):
        """One /train on chunk (x, y) from the current params and state; the chunk
        is already the last of self._since."""
        r = self._with_replay(lambda: self.client.call("/train", self._train_body(x, y)),
                              rerun=self._since[:-1])
        self._take(r)

    def _train_body(self, x, y):
        body = {"network": self.network, "inputs": x, "targets": y,
                "optimizer": self.optimizer, "batch_size": self.batch_size, "epochs": 1,
                **self.fields}
        if self.params is None:
            body["init"] = self.init
        else:
            body["params"] = self.params
        if self.state is not None:
            body["optimizer_state"] = self.state
        return body

    def _take(self, r):
        self.requests += 1
        self.params, self.state = r["params"], r["optimizer_state"]
        self.loss_history += r["loss_history"]

    def _with_replay(self, send, rerun):
        """send(), or, when the server answers 409 for tensors this process cannot
        upload (the client heals the others itself), the checkpoint restored, the
        chunks of rerun trained again, and send() once more."""
        try:
            return send()
        except ProblemError as e:
            if e.status != 409:
                raise
        self.replays += 1
        self.params, self.state, self.init = self._base
        for x, y in rerun:
            r = self.client.call("/train", self._train_body(x, y))
            self.params, self.state = r["params"], r["optimizer_state"]
        return send()

    def weights(self):
        """The current params as numpy arrays (fetched from the store with refs)."""
        return self.client.fetch(self.params)

    def checkpoint(self):
        """Fetches params and optimizer state into this process, so that a lost
        store is healed by uploading them instead of recomputing from the start."""
        self.client.fetch(self.params)  # each Ref now holds its array
        if self.state is not None:
            self.client.fetch(self.state)
        self._base, self._since = (self.params, self.state, self.init), []

    def predict(self, inputs, chunk_rows=None):
        """The network's outputs for inputs (a /forward per chunk), as an array."""
        n = chunk_rows or self.chunk_rows
        out = []
        # Test inputs go once, so inline bytes rather than an upload and a ref.
        inline = "binary" if self.client.transport == "ref" else None
        dtype = {"dtype": self.fields["dtype"]} if "dtype" in self.fields else {}
        for start in range(0, len(inputs), n):
            x = np.asarray(inputs[start:start + n])
            r = self._with_replay(
                lambda: self.client.call("/forward", {"network": self.network, "inputs": x,
                                                      "params": self.params, **dtype},
                                         transport=inline, encoding=inline),
                rerun=self._since)
            out.append(np.asarray(r["outputs"]))
        return np.concatenate(out)

    def accuracy(self, inputs, labels):
        """The fraction of rows whose largest output is the label."""
        return float((self.predict(inputs).argmax(1) == np.asarray(labels)).mean())
