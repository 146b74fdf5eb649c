#!/usr/bin/python3
"""The Python client (clients/python/gradserve) against the real server at $GRADSERVE_URL.

Run by tests/test_client_python.sh, which starts the server. What is proven:
- the client's answers equal the same request made by hand (urllib, nested JSON),
  bit for bit, with binary bodies and with base64, float32 and float64;
- errors are ProblemError carrying the server's problem details;
- int64 class labels (a JSON list inline, int64 bytes by ref);
- the Trainer's chunked run equals one long /train made by hand, and gives
  bit-identical params with refs, binary bodies and base64;
- the store: upload once, HEAD/GET/DELETE, a tensor deleted behind the client's
  back is uploaded again on the 409 and the answer is unchanged; a Trainer whose
  server lost the weights it held recomputes them and ends where it would have;
- a 503 (queue full) is sent again after its Retry-After, and answered;
- a /train whose tensors are all refs, answered as refs: at most 4 KB each way besides
  the per-step losses (at most 20 bytes a step; see the test).
Prints PASS/FAIL per test, then "N passed, N failed".
"""
import contextlib
import hashlib
import io
import json
import os
import re
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
import gradserve  # noqa: E402

URL = os.environ.get("GRADSERVE_URL", "http://127.0.0.1:8080")
MAX_BODY = int(os.environ.get("GRADSERVE_TEST_MAX_BODY", "1048576"))

NET = {"inputs": 8, "layers": [{"units": 16, "activation": "relu"},
                               {"units": 3, "activation": "linear"}], "loss": "cross_entropy"}
NET_MSE = {"inputs": 8, "layers": [{"units": 5, "activation": "tanh"},
                                   {"units": 2, "activation": "linear"}], "loss": "mse"}


def data(rows, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 8)).astype(np.float32)
    labels = rng.integers(0, 3, rows).astype(np.int64)
    t = rng.standard_normal((rows, 2)).astype(np.float32)
    return x, labels, t


def by_hand(method, path, body=None, url=URL):
    """(status, JSON answer) of a plain urllib request; body is sent as JSON."""
    data_ = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data_, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw) if raw else None


def metric(url, name):
    """The value of an unlabelled metric in the server's /metrics."""
    with urllib.request.urlopen(url + "/metrics", timeout=60) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


def nested(params):
    return [{k: np.asarray(v).tolist() for k, v in p.items()} for p in params]


def same(a, b):
    """a and b equal bit for bit (arrays by their bytes, containers element-wise)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and not isinstance(b, np.ndarray):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.tobytes() == b.astype(a.dtype).tobytes()


def store_present():
    """Whether the server stores tensors: a PUT of 4 zero bytes by their digest."""
    digest = "sha256:" + hashlib.sha256(bytes(4)).hexdigest()
    req = urllib.request.Request(URL + "/tensors/" + digest, data=bytes(4), method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            ok = r.status in (200, 201)
    except urllib.error.HTTPError:
        return False
    by_hand("DELETE", "/tensors/" + digest)
    return ok


class WithServer(unittest.TestCase):
    def client(self, transport="binary"):
        c = gradserve.Client(URL, transport=transport)
        self.addCleanup(c.close)
        return c


class Inline(WithServer):
    def test_gradients_binary_equal_by_hand(self):
        x, _, t = data(32)
        init = {"scheme": "xavier_uniform", "seed": 3}
        _, ref = by_hand("POST", "/gradients", {"network": NET_MSE, "inputs": x.tolist(),
                                                "targets": t.tolist(), "init": init})
        got = self.client("binary").gradients(NET_MSE, x, t, init=init)
        self.assertEqual(got["loss"], ref["loss"])
        self.assertTrue(same(got["gradients"], nested(ref["gradients"])))
        self.assertTrue(same(got["params"], nested(ref["params"])))
        self.assertEqual(got["gradients"][0]["weight"].dtype, np.float32)

    def test_train_b64_equal_by_hand_float64(self):
        x, _, t = data(40, seed=2)
        x64, t64 = x.astype(np.float64), t.astype(np.float64)
        body = {"network": NET_MSE, "dtype": "float64", "init": {"seed": 5},
                "optimizer": {"name": "adam", "lr": 0.01}, "batch_size": 8, "epochs": 3}
        _, ref = by_hand("POST", "/train", {**body, "inputs": x64.tolist(), "targets": t64.tolist(),
                                            "encoding": "b64"})
        got = self.client("b64").train(inputs=x64, targets=t64, **body)
        self.assertEqual(got["loss_history"], ref["loss_history"])
        want = [{k: np.frombuffer(__import__("base64").b64decode(v["b64"]), "<f8").reshape(v["shape"])
                 for k, v in p.items()} for p in ref["params"]]
        self.assertTrue(same(got["params"], want))
        self.assertEqual(got["params"][0]["weight"].dtype, np.float64)
        self.assertEqual(got["optimizer_state"]["step"], 15)

    def test_int64_labels_inline(self):
        x, labels, _ = data(30, seed=3)
        _, ref = by_hand("POST", "/gradients", {"network": NET, "inputs": x.tolist(),
                                                "targets": labels.tolist(), "init": {"seed": 1}})
        for transport in ("binary", "b64"):
            got = self.client(transport).gradients(NET, x, labels, init={"seed": 1})
            self.assertEqual(got["loss"], ref["loss"], transport)
            self.assertTrue(same(got["gradients"], nested(ref["gradients"])), transport)

    def test_problem_details_name_the_field(self):
        x, _, t = data(4)
        with self.assertRaises(gradserve.ProblemError) as cm:
            self.client().gradients(NET_MSE, x[:3], t, init={"seed": 1})
        e = cm.exception
        self.assertEqual((e.status, e.problem["status"]), (400, 400))
        self.assertTrue(e.type.startswith("https://gradserve.dev/problems/"))
        self.assertTrue(e.title and e.detail and e.request_id)
        self.assertEqual([err["pointer"] for err in e.errors], ["/targets"])
        self.assertIn("/targets", str(e))

        bad = {**NET_MSE, "layers": [{"units": -1, "activation": "tanh"}]}
        with self.assertRaises(gradserve.ProblemError) as cm:
            self.client("b64").forward(bad, x, init={"seed": 1})
        self.assertEqual(cm.exception.errors[0]["pointer"], "/network/layers/0/units")

    def test_problem_details_body_too_large(self):
        x = np.zeros((MAX_BODY // 32 + 1, 8), np.float32)  # just over --max-body-bytes
        with self.assertRaises(gradserve.ProblemError) as cm:
            self.client("binary").forward(NET_MSE, x, init={"seed": 1})
        self.assertEqual(cm.exception.status, 413)
        self.assertEqual(cm.exception.problem.get("limit"), "max_body_bytes")

    def test_one_connection_kept_alive(self):
        c = self.client()
        x, _, t = data(8)
        c.forward(NET_MSE, x, init={"seed": 1})
        sock = c._conn.sock
        for _ in range(5):
            c.gradients(NET_MSE, x, t, init={"seed": 1})
        self.assertIs(c._conn.sock, sock)
        self.assertEqual(c.stats["requests"], 6)

    def test_binary_body_smaller_than_b64(self):
        x, _, t = data(2000)
        sizes = {}
        for transport in ("binary", "b64"):
            c = self.client(transport)
            c.gradients(NET_MSE, x, t, init={"seed": 1})
            sizes[transport] = c.bytes_sent
        # inputs 2000 x 8 and targets 2000 x 2 float32: 80,000 bytes; base64 adds a third
        self.assertGreater(sizes["binary"], 80000)
        self.assertLess(sizes["binary"], 82000)
        self.assertGreater(sizes["b64"], 80000 * 4 / 3)

    def test_trainer_chunks_equal_one_long_run(self):
        x, labels, _ = data(300, seed=4)
        opt = {"name": "adam", "lr": 0.01}
        _, ref = by_hand("POST", "/train", {"network": NET, "inputs": x.tolist(),
                                            "targets": labels.tolist(), "init": {"seed": 7},
                                            "optimizer": opt, "batch_size": 20, "epochs": 2})
        for transport in ("binary", "b64"):
            tr = gradserve.Trainer(self.client(transport), NET, init={"seed": 7}, optimizer=opt,
                                   batch_size=20, chunk_rows=100)
            tr.fit(x, labels, epochs=2)
            self.assertEqual(tr.requests, 6)
            self.assertEqual(tr.loss_history, ref["loss_history"], transport)
            self.assertTrue(same(tr.weights(), nested(ref["params"])), transport)
            acc = tr.accuracy(x, labels)
            self.assertGreater(acc, 0.34)  # 3 classes: better than chance on its own rows


class Store(WithServer):
    @classmethod
    def setUpClass(cls):
        if not store_present():
            raise AssertionError("the server has no tensor store (/tensors/...): "
                                 "the store branch is not merged into this build")

    def test_upload_once_head_get_delete(self):
        a = np.random.default_rng(11).standard_normal((3, 5)).astype(np.float32)
        c = self.client("ref")
        c.delete(gradserve.digest_of(a))  # whatever an earlier run left
        ref = c.upload(a)
        self.assertEqual(ref.ref, gradserve.digest_of(a))
        self.assertEqual((c.stats["uploads"], ref.shape, ref.dtype), (1, (3, 5), "float32"))
        c2 = self.client("ref")
        c2.upload(a)  # already held: 200, nothing stored
        self.assertEqual(c2.stats["uploads"], 0)
        self.assertTrue(c2.has(ref))
        fetched = c2.fetch(gradserve.Ref(ref.ref, ref.shape, ref.dtype))
        self.assertEqual(fetched.tobytes(), a.tobytes())
        self.assertTrue(c2.delete(ref))
        self.assertFalse(c2.has(ref))
        self.assertFalse(c2.delete(ref))

    def test_wrong_shape_ref_is_a_problem(self):
        c = self.client("ref")
        ref = c.upload(np.zeros((4, 8), np.float32))
        lie = gradserve.Ref(ref.ref, (5, 8), "float32")
        with self.assertRaises(gradserve.ProblemError) as cm:
            c.forward(NET_MSE, lie, init={"seed": 1})
        self.assertEqual(cm.exception.status, 400)
        self.assertIn(cm.exception.errors[0]["pointer"], ("/inputs", "/inputs/ref"))

    def test_ref_answers_equal_inline_and_int64_labels(self):
        x, labels, _ = data(50, seed=5)
        inline = self.client("binary").gradients(NET, x, labels, init={"seed": 2})
        c = self.client("ref")
        got = c.gradients(NET, x, labels, init={"seed": 2})
        self.assertIsInstance(got["gradients"][0]["weight"], gradserve.Ref)
        self.assertEqual(got["loss"], inline["loss"])
        self.assertTrue(same(c.fetch(got["gradients"]), inline["gradients"]))
        # the labels went as int64 bytes
        self.assertTrue(c.has(gradserve.digest_of(labels)))

    def test_deleted_tensor_uploaded_again_on_409(self):
        x, labels, _ = data(60, seed=6)
        c = self.client("ref")
        first = c.gradients(NET, x, labels, init={"seed": 3}, encoding="binary")
        # behind the client's back: the server no longer holds the inputs
        status, _ = by_hand("DELETE", "/tensors/" + gradserve.digest_of(x))
        self.assertEqual(status, 204)
        before = c.stats["uploads"]
        again = c.gradients(NET, x, labels, init={"seed": 3}, encoding="binary")
        self.assertEqual(c.stats["conflicts"], 1)
        self.assertEqual(c.stats["uploads"], before + 1)
        self.assertTrue(same(again, first))

    def test_trainer_bit_identical_across_encodings(self):
        x, labels, _ = data(300, seed=8)
        opt = {"name": "adam", "lr": 0.01}
        results = {}
        for transport in ("ref", "binary", "b64"):
            tr = gradserve.Trainer(self.client(transport), NET, init={"seed": 9}, optimizer=opt,
                                   batch_size=32, chunk_rows=96)
            tr.fit(x, labels, epochs=2)
            results[transport] = (tr.weights(), tr.loss_history, tr.client.fetch(tr.state))
        self.assertIsInstance(tr.params, list)
        for transport in ("binary", "b64"):
            self.assertTrue(same(results["ref"], results[transport]), transport)

    def test_all_ref_train_at_most_4kb_each_way(self):
        """Issue 17's target at its recipe's size: a chunk of 10,000 rows of 784, the
        784-256-128-10 network, batches of 128 (79 steps, so 79 losses answered)."""
        rng = np.random.default_rng(10)
        x = rng.standard_normal((10000, 784)).astype(np.float32)
        labels = rng.integers(0, 10, 10000).astype(np.int64)
        net = {"inputs": 784, "layers": [{"units": 256, "activation": "relu"},
                                         {"units": 128, "activation": "relu"},
                                         {"units": 10, "activation": "linear"}],
               "loss": "cross_entropy"}
        c = self.client("ref")
        tr = gradserve.Trainer(c, net, init={"seed": 1}, batch_size=128, chunk_rows=10000)
        tr.fit(x, labels)  # uploads; then params and state are refs in the store
        xr, yr = c.upload(x), c.upload(labels)
        sent, received = c.bytes_sent, c.bytes_received
        r = c.train(net, xr, yr, params=tr.params, optimizer_state=tr.state,
                    optimizer={"name": "adam", "lr": 1e-3}, batch_size=128)
        self.assertIsInstance(r["params"][0]["weight"], gradserve.Ref)
        self.assertEqual(len(r["loss_history"]), 79)
        up, down = c.bytes_sent - sent, c.bytes_received - received
        # The answer also carries the loss of each of the 79 steps, inline at full
        # double precision (about 19 bytes a step, 1.5 KB here): the one part of it
        # that grows with the chunk. Everything else (headers, 18 refs, the step
        # count) must fit in 4 KB; the losses may add at most 20 bytes a step.
        losses = len(json.dumps(r["loss_history"], separators=(",", ":")))
        self.assertLessEqual(losses, 20 * 79, f"{losses} bytes of losses")
        self.assertLessEqual(up, 4096, f"{up} bytes sent")
        self.assertLessEqual(down - losses, 4096,
                             f"{down} bytes received, {losses} of them the losses")

    def test_trainer_recomputes_weights_the_server_lost(self):
        x, labels, _ = data(300, seed=12)
        opt = {"name": "adam", "lr": 0.01}
        whole = gradserve.Trainer(self.client("ref"), NET, init={"seed": 4}, optimizer=opt,
                                  batch_size=25, chunk_rows=100)
        whole.fit(x, labels, epochs=2)
        want = whole.weights()

        c = self.client("ref")
        tr = gradserve.Trainer(c, NET, init={"seed": 4}, optimizer=opt, batch_size=25,
                               chunk_rows=100)
        tr.fit(x, labels, epochs=1)
        # as if the replica holding them died: only the server had these
        for ref in [*tr.params[0].values(), *tr.params[1].values()]:
            by_hand("DELETE", "/tensors/" + ref.ref)
        tr.fit(x, labels, epochs=1)
        self.assertEqual(tr.replays, 1)
        self.assertEqual(tr.loss_history, whole.loss_history)
        self.assertTrue(same(tr.weights(), want))


class Auth(WithServer):
    def test_bearer_token_on_compute_and_store_routes(self):
        url, token = os.environ["GRADSERVE_AUTH_URL"], os.environ["GRADSERVE_TEST_TOKEN"]
        x, labels, _ = data(20, seed=13)
        with gradserve.Client(url, transport="ref") as c:
            with self.assertRaises(gradserve.ProblemError) as cm:
                c.gradients(NET, x, labels, init={"seed": 1})
            self.assertEqual(cm.exception.status, 401)
        with gradserve.Client(url, transport="ref", token=token) as c:
            r = c.gradients(NET, x, labels, init={"seed": 1}, encoding="binary")
            self.assertEqual(c.stats["uploads"], 2)  # inputs and labels, PUT with the token
        want = self.client("binary").gradients(NET, x, labels, init={"seed": 1})
        self.assertTrue(same(r, want))


class Busy(WithServer):
    """A server with one worker and no queue (--max-concurrent 1 --queue-ms 0) answers
    503 with Retry-After while a long /train holds the worker (--max-request-seconds 2
    ends it): the client waits and sends again."""

    def test_503_waited_out_by_retry_after(self):
        url = os.environ["GRADSERVE_BUSY_URL"]
        rng = np.random.default_rng(17)
        long_train = {"network": {"inputs": 64, "layers": [{"units": 256, "activation": "relu"},
                                                          {"units": 10, "activation": "linear"}],
                                  "loss": "cross_entropy"},
                      "init": {"seed": 1}, "epochs": 100000, "batch_size": 256,
                      "optimizer": {"name": "sgd", "lr": 0.01},
                      "inputs": rng.standard_normal((256, 64)).round(3).tolist(),
                      "targets": rng.integers(0, 10, 256).tolist()}
        done = []
        worker = threading.Thread(target=lambda: done.append(
            by_hand("POST", "/train", long_train, url=url)[0]))
        worker.start()
        self.addCleanup(worker.join)
        deadline = time.monotonic() + 30
        while not done and metric(url, "gradserve_memory_in_use_bytes") == 0:  # admitted
            self.assertLess(time.monotonic(), deadline, "the long /train never started")
            time.sleep(0.01)
        self.assertEqual(done, [], "the long /train was answered before it could be waited on")
        x, labels, _ = data(20, seed=18)
        with gradserve.Client(url, busy_retries=0) as c:
            with self.assertRaises(gradserve.ProblemError) as cm:
                c.gradients(NET, x, labels, init={"seed": 1})
        self.assertEqual(cm.exception.status, 503)
        self.assertTrue(cm.exception.type.endswith("saturated"), cm.exception.type)
        with gradserve.Client(url) as c:
            got = c.gradients(NET, x, labels, init={"seed": 1})
            self.assertGreaterEqual(c.stats["busy_waits"], 1)
        worker.join()
        self.assertEqual(len(done), 1)  # the long /train was answered too
        self.assertTrue(same(got, self.client().gradients(NET, x, labels, init={"seed": 1})))

    def test_retry_after_header_forms(self):
        from gradserve.client import _retry_after, MAX_RETRY_AFTER
        self.assertEqual(_retry_after("2"), 2.0)
        self.assertEqual(_retry_after(None), 1.0)
        self.assertEqual(_retry_after("soon"), 1.0)
        self.assertEqual(_retry_after("86400"), MAX_RETRY_AFTER)
        past = "Wed, 21 Oct 2015 07:28:00 GMT"
        self.assertEqual(_retry_after(past), 0.0)


class Docs(WithServer):
    def test_docs_python_examples_run(self):
        """Every ```python block of docs/clients.md, in order, in one namespace, against
        this server; what they print is checked where the page shows it."""
        page = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "clients.md")
        text = open(page).read()
        blocks = re.findall(r"^```python\n(.*?)^```$", text, re.S | re.M)
        self.assertGreaterEqual(len(blocks), 4)
        namespace = {}
        for i, block in enumerate(blocks):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                try:
                    exec(compile(block.replace("http://localhost:8080", URL),
                                 f"docs/clients.md python block {i + 1}", "exec"), namespace)
                except Exception as e:
                    raise AssertionError(f"python block {i + 1} of docs/clients.md: {e!r}") from e
            for line in block.splitlines():  # "print(...)  # shown" comments
                m = re.match(r"\s*print\(.*\)\s+# (\d{3}) (\[.*\])$", line)
                if m:
                    self.assertIn(m.group(1) + " " + m.group(2), out.getvalue())


class Result(unittest.TextTestResult):
    """One PASS/FAIL line per test; a class whose set-up failed fails each of its tests."""
    passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1
        print(f"PASS {test.id().replace('__main__.', '')}", flush=True)

    def _fail(self, test, err):
        print(f"FAIL {test.id().replace('__main__.', '')}", flush=True)
        print("    " + self._exc_info_to_string(err, test).strip().replace("\n", "\n    "))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._fail(test, err)

    def addError(self, test, err):
        super().addError(test, err)
        self._fail(test, err)


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    n = suite.countTestCases()
    with open(os.devnull, "w") as devnull:
        result = unittest.TextTestRunner(resultclass=Result, verbosity=0, stream=devnull).run(suite)
    print(f"{result.passed} passed, {n - result.passed} failed")
    return 0 if result.passed == n else 1


if __name__ == "__main__":
    sys.exit(main())
