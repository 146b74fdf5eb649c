"""The gradserve HTTP client: numpy arrays in and out, one kept-alive connection.

How a request's tensors travel is the client's `transport`:
  "binary"  one application/octet-stream body: the JSON, then every tensor's bytes
            (Triton's binary tensor extension, docs/api.md "Binary bodies");
  "b64"     one JSON body, each tensor {"shape", "dtype", "b64"};
  "ref"     one small JSON body, each tensor {"ref": "sha256:..", "shape", "dtype"}:
            its bytes PUT to /tensors/sha256:<hex> once, the first time this client
            sends them; a 409 (the server no longer holds some) uploads the refs it
            lists and sends the same request again.
Responses come back in the same way unless `encoding` says otherwise: with "ref"
the server keeps every answered tensor in its store and the answer holds `Ref`s,
which `fetch` turns into arrays when the caller wants the numbers.

Integer arrays are class indices (cross_entropy targets): a JSON list of integers,
or an int64 ref. Other arrays keep their dtype (float32 or float64; the server
converts to the network's dtype).
"""
import base64
import email.utils
import hashlib
import http.client
import io
import json
import socket
import time
import urllib.parse

import numpy as np

__all__ = ["Client", "Ref", "ProblemError", "digest_of"]

TRANSPORTS = ("binary", "b64", "ref")
_FLOAT_DTYPES = {"float32": np.dtype("<f4"), "float64": np.dtype("<f8")}
_REF_DTYPES = {**_FLOAT_DTYPES, "int64": np.dtype("<i8")}


class ProblemError(Exception):
    """An error answer: the server's RFC 9457 problem details, field by field.

    status, title, detail, type, request_id as the server wrote them; errors is the
    list of {"pointer", "detail", ...} naming each offending field of the request;
    problem is the whole body (limit, step, ... when the server gave them)."""

    def __init__(self, status, problem, request_id=None):
        self.status = status
        self.problem = problem
        self.type = problem.get("type")
        self.title = problem.get("title", http.client.responses.get(status, ""))
        self.detail = problem.get("detail", "")
        self.errors = problem.get("errors", [])
        self.request_id = problem.get("request_id", request_id)
        where = "; ".join(f"{e.get('pointer', '')}: {e.get('detail', '')}" for e in self.errors)
        super().__init__(f"{status} {self.title}: {self.detail}" + (f" ({where})" if where else ""))


class Ref:
    """A tensor named by the SHA-256 of its little-endian row-major bytes.

    `array` is the local copy when this process has the bytes (it uploaded them or
    fetched them): the client can upload it again after the server lost it."""

    __slots__ = ("ref", "shape", "dtype", "array")

    def __init__(self, ref, shape, dtype, array=None):
        self.ref, self.shape, self.dtype, self.array = ref, tuple(shape), dtype, array

    def to_json(self):
        return {"ref": self.ref, "shape": list(self.shape), "dtype": self.dtype}

    def __eq__(self, other):
        return isinstance(other, Ref) and self.to_json() == other.to_json()

    def __hash__(self):
        return hash(self.ref)

    def __repr__(self):
        return f"Ref({self.ref[:19]}.., shape={list(self.shape)}, dtype={self.dtype})"


def _wire_array(a):
    """a as the contiguous little-endian array the server reads; its dtype name."""
    a = np.asarray(a)
    if a.dtype.kind in "iu":
        return np.ascontiguousarray(a, dtype="<i8"), "int64"
    if a.dtype == np.float64:
        return np.ascontiguousarray(a, dtype="<f8"), "float64"
    return np.ascontiguousarray(a, dtype="<f4"), "float32"


def digest_of(array):
    """'sha256:<hex>' of the array's bytes as the server stores them."""
    a, _ = _wire_array(array)
    return "sha256:" + hashlib.sha256(memoryview(a).cast("B")).hexdigest()


class _CountingReader(socket.SocketIO):
    """The socket's raw reader, counting every byte received."""

    def __init__(self, sock, counter):
        super().__init__(sock, "rb")
        self._counter = counter

    def readinto(self, b):
        n = super().readinto(b)
        if n:
            self._counter[1] += n
        return n


class _CountingSocket:
    """A connected socket whose traffic is counted: counter = [sent, received]."""

    def __init__(self, sock, counter):
        self._sock, self._counter = sock, counter

    def sendall(self, data):
        self._sock.sendall(data)
        self._counter[0] += memoryview(data).nbytes

    def makefile(self, mode="r", *args, **kwargs):
        assert mode == "rb"
        return io.BufferedReader(_CountingReader(self._sock, self._counter))

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _Connection(http.client.HTTPConnection):
    def __init__(self, host, port, timeout, counter):
        super().__init__(host, port, timeout=timeout)
        self._counter = counter

    def connect(self):
        super().connect()
        # Request headers and a small body go out in separate writes: without
        # TCP_NODELAY, Nagle's algorithm holds the second for the server's delayed ACK.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = _CountingSocket(self.sock, self._counter)


class Client:
    """A gradserve server at `url`, over one HTTP/1.1 connection kept alive.

    transport: "binary" (default), "b64" or "ref", see the module's comment.
    token: the bearer token when the server has auth on.
    affinity: sent as X-Gradserve-Affinity, so a load balancer hashing on it keeps
      this client on one replica (whose tensor store holds its tensors).
    retries: how many times a 409 (refs the store lacks) is healed by upload and resent.
    busy_retries: how many times a 503 (queue full, draining) is sent again after
      its Retry-After (at most MAX_RETRY_AFTER seconds each); 0 raises at once.
    Not thread-safe: one Client per thread.
    bytes_sent / bytes_received count everything on the wire, headers included;
    stats counts uploads (PUTs that stored), conflicts (409s healed), busy_waits
    (503s waited out) and requests.
    """

    def __init__(self, url="http://127.0.0.1:8080", *, transport="binary", token=None,
                 affinity=None, timeout=600.0, retries=3, busy_retries=4):
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, not {transport!r}")
        u = urllib.parse.urlsplit(url)
        if u.scheme != "http" or not u.hostname:
            raise ValueError(f"url must be http://host[:port], not {url!r}")
        self.url, self.transport, self.retries = url, transport, retries
        self.busy_retries = busy_retries
        self._prefix = u.path.rstrip("/")
        self._headers = {}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        if affinity:
            self._headers["X-Gradserve-Affinity"] = str(affinity)
        self._counter = [0, 0]
        self._conn = _Connection(u.hostname, u.port or 80, timeout, self._counter)
        # Digests this client believes the server holds: uploaded or answered by it.
        # A stale belief costs one 409 and a re-upload, never a wrong answer.
        self._held = set()
        self.stats = {"requests": 0, "uploads": 0, "conflicts": 0, "busy_waits": 0}

    # ---- the wire ------------------------------------------------------------
    @property
    def bytes_sent(self):
        return self._counter[0]

    @property
    def bytes_received(self):
        return self._counter[1]

    def close(self):
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _request(self, method, path, body=b"", headers=None):
        """(status, headers, body bytes). body: bytes or a list of buffers.

        A 503 (the server's queue is full, or it is draining for a restart) is
        sent again after the Retry-After it gives, at most busy_retries times:
        every gradserve route is stateless (a PUT names its bytes), so sending
        twice means what sending once means. Behind a load balancer the retry
        may reach another replica."""
        if isinstance(body, (bytes, bytearray, memoryview)):
            body = [body]
        for attempt in range(self.busy_retries + 1):
            status, rheaders, data = self._exchange(method, path, body, headers)
            if status != 503 or attempt == self.busy_retries:
                return status, rheaders, data
            self.stats["busy_waits"] += 1
            time.sleep(_retry_after(rheaders.get("Retry-After")))

    def _exchange(self, method, path, body, headers):
        """One request and its answer. A connection the server closed while idle
        (keep-alive timeout, a restart) is opened again and the request sent again."""
        h = {**self._headers, **(headers or {}),
             "Content-Length": str(sum(memoryview(b).nbytes for b in body))}
        for attempt in range(2):
            try:
                try:
                    self._conn.request(method, self._prefix + path, body=iter(body), headers=h)
                except (ConnectionResetError, BrokenPipeError):
                    # The server may have answered before reading the whole body
                    # (a 413 from Content-Length) and closed: read that answer.
                    if attempt or self._conn.sock is None:
                        raise
                r = self._conn.getresponse()
                data = r.read()
                self.stats["requests"] += 1
                if r.will_close:
                    self._conn.close()
                return r.status, r.headers, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest, http.client.ResponseNotReady):
                self._conn.close()
                if attempt:
                    raise

    @staticmethod
    def _raise(status, headers, data):
        try:
            problem = json.loads(data)
            if not isinstance(problem, dict):
                raise ValueError
        except ValueError:
            problem = {"title": http.client.responses.get(status, ""),
                       "detail": data[:200].decode("utf-8", "replace")}
        raise ProblemError(status, problem, headers.get("X-Request-Id"))

    # ---- the tensor store ----------------------------------------------------
    def upload(self, array):
        """A Ref to the array; its bytes PUT into the store unless this client
        already put them there or was answered with them (then a later 409 says
        whether the server lost them, and the client uploads them again)."""
        a, dtype = _wire_array(array)
        ref = Ref("sha256:" + hashlib.sha256(memoryview(a).cast("B")).hexdigest(),
                  a.shape, dtype, a)
        if ref.ref not in self._held:
            self._put(ref)
        return ref

    def _put(self, ref):
        if ref.array is None:
            raise ValueError(f"{ref} has no local bytes to upload")
        status, headers, data = self._request(
            "PUT", "/tensors/" + ref.ref, memoryview(ref.array).cast("B"),
            {"Content-Type": "application/octet-stream"})
        if status not in (200, 201):
            self._raise(status, headers, data)
        self.stats["uploads"] += status == 201
        self._held.add(ref.ref)

    def has(self, ref):
        """Whether the server holds it now (HEAD)."""
        status, headers, data = self._request("HEAD", "/tensors/" + _digest(ref))
        if status not in (200, 404):
            self._raise(status, headers, data)
        return status == 200

    def delete(self, ref):
        """DELETE it from the store; False when the server did not hold it."""
        status, headers, data = self._request("DELETE", "/tensors/" + _digest(ref))
        if status not in (204, 404):
            self._raise(status, headers, data)
        self._held.discard(_digest(ref))
        return status == 204

    def fetch(self, value):
        """value with every Ref in it (nested in dicts and lists) replaced by its
        array, read from the store (GET) unless this process has the bytes."""
        if isinstance(value, Ref):
            if value.array is None:
                status, headers, data = self._request("GET", "/tensors/" + value.ref)
                if status != 200:
                    self._raise(status, headers, data)
                a = np.frombuffer(data, dtype=_REF_DTYPES[value.dtype])
                value.array = a.reshape(value.shape)
            return value.array
        if isinstance(value, dict):
            return {k: self.fetch(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fetch(v) for v in value]
        return value

    # ---- compute routes ------------------------------------------------------
    def forward(self, network, inputs, **fields):
        """POST /forward: {"outputs", "loss"?, "params"?, ...} with arrays (or Refs)."""
        return self.call("/forward", dict(network=network, inputs=inputs, **fields))

    def gradients(self, network, inputs, targets, **fields):
        """POST /gradients: {"loss", "gradients", ...}."""
        return self.call("/gradients", dict(network=network, inputs=inputs, targets=targets,
                                            **fields))

    def train(self, network, inputs, targets, **fields):
        """POST /train: {"params", "optimizer_state", "loss_history", ...}."""
        return self.call("/train", dict(network=network, inputs=inputs, targets=targets,
                                        **fields))

    def gradcheck(self, network, inputs, targets, **fields):
        """POST /gradcheck."""
        return self.call("/gradcheck", dict(network=network, inputs=inputs, targets=targets,
                                            **fields))

    def call(self, route, body, *, transport=None, encoding=None):
        """POST body to route; the answer's JSON with its tensors as arrays or Refs.

        body is the request as openapi.yaml documents it, with numpy arrays and Refs
        wherever tensors go; None values are left out. transport overrides the
        client's for this call. encoding is the answer's (default: the transport's
        name, so binary answers binary, b64 base64 and ref refs). Arrays decoded from
        a binary answer are read-only views of its body. Raises ProblemError."""
        transport = transport or self.transport
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, not {transport!r}")
        body = {k: v for k, v in body.items() if v is not None}
        if "encoding" not in body:
            body["encoding"] = encoding or transport
        refs, chunks = {}, []
        doc = _encode(body, transport, refs, chunks)
        for attempt in range(self.retries + 1):
            for ref in refs.values():
                if ref.ref not in self._held and ref.array is not None:
                    self._put(ref)
            text = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
            if chunks:
                status, headers, data = self._request(
                    "POST", route, [text, *chunks],
                    {"Content-Type": "application/octet-stream",
                     "Inference-Header-Content-Length": str(len(text))})
            else:
                status, headers, data = self._request(
                    "POST", route, text, {"Content-Type": "application/json"})
            if status == 409 and attempt < self.retries:
                missing = _missing_refs(data)
                if missing and all(refs.get(m) is not None and refs[m].array is not None
                                   for m in missing):
                    self.stats["conflicts"] += 1
                    self._held.difference_update(missing)
                    continue
            if status != 200:
                self._raise(status, headers, data)
            return self._decode(headers, data)

    def _decode(self, headers, data):
        n = headers.get("Inference-Header-Content-Length")
        if n is None:
            return _decode(json.loads(data), None, self._held)
        n = int(n)
        return _decode(json.loads(data[:n]), [memoryview(data), n], self._held)


# A Retry-After longer than this is waited this long: the caller asked for an
# answer, not for an unbounded sleep.
MAX_RETRY_AFTER = 30.0


def _retry_after(value):
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP date
    (RFC 9110, 10.2.3); 1 when absent or unreadable."""
    if value is None:
        return 1.0
    try:
        seconds = float(int(value.strip()))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            seconds = when.timestamp() - time.time()
        except (TypeError, ValueError):
            return 1.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _digest(ref):
    return ref.ref if isinstance(ref, Ref) else ref


def _missing_refs(data):
    try:
        return [e["ref"] for e in json.loads(data).get("errors", []) if "ref" in e]
    except (ValueError, AttributeError, TypeError, KeyError):
        return []


def _encode(value, transport, refs, chunks):
    """value with arrays and Refs written as the transport writes tensors; the Refs
    named go into refs (digest -> Ref), binary bytes onto chunks in the order of the
    JSON text (json.dumps keeps dicts' insertion order, as this walk does)."""
    if isinstance(value, Ref):
        refs.setdefault(value.ref, value)
        return value.to_json()
    if isinstance(value, np.ndarray):
        a, dtype = _wire_array(value)
        if transport == "ref":
            ref = Ref(digest_of(a), a.shape, dtype, a)
            refs.setdefault(ref.ref, ref)
            return ref.to_json()
        if dtype == "int64":  # class indices: only refs carry int64 bytes
            return a.tolist()
        if transport == "binary":
            chunks.append(memoryview(a).cast("B"))
            return {"shape": list(a.shape), "dtype": dtype, "binary_data_size": a.nbytes}
        return {"shape": list(a.shape), "dtype": dtype,
                "b64": base64.b64encode(memoryview(a).cast("B")).decode("ascii")}
    if isinstance(value, dict):
        return {k: _encode(v, transport, refs, chunks) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v, transport, refs, chunks) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode(value, binary, held):
    """The answer's JSON with tensors as arrays (binary: [body, offset of the next
    tensor's bytes]) or Refs (their digests added to held)."""
    if isinstance(value, dict):
        if "shape" in value and "dtype" in value:
            if "binary_data_size" in value and binary is not None:
                size, start = value["binary_data_size"], binary[1]
                binary[1] += size
                dt = _FLOAT_DTYPES[value["dtype"]]
                return np.frombuffer(binary[0][start:start + size], dtype=dt).reshape(value["shape"])
            if "b64" in value:
                dt = _FLOAT_DTYPES[value["dtype"]]
                return np.frombuffer(base64.b64decode(value["b64"]), dtype=dt).reshape(value["shape"])
            if "ref" in value:
                held.add(value["ref"])
                return Ref(value["ref"], value["shape"], value["dtype"])
        return {k: _decode(v, binary, held) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, binary, held) for v in value]
    return value
