#!/usr/bin/python3
"""Sends the same malformed bodies to two running servers and compares the
answers: status, body (its "request_id" left out) and headers (Date and
X-Request-Id left out). Made to check that a build which maps jansson's error
in fastjson's skeleton back to the body (wire/codec.c, error_in_body) answers
every malformed body byte for byte as a build that parses the body again:

    tests/compare_malformed.py PORT_OF_ONE PORT_OF_THE_OTHER

The bodies: a small /gradients request with packed tensors (nested, flat,
base64) over several lines with UTF-8 in its strings, cut at each byte, each
byte removed, and snippets (1e999, integers beyond int64, duplicate keys, bad
escapes, control characters, bytes that are not UTF-8, text after the body,
...) inserted at each byte; then bigger bodies with the same errors before,
inside and after their tensors, and one nested past jansson's 2048 levels.
Prints the differences and a count; exits 1 when any."""
import http.client
import random
import re
import sys

BASE = (
    b'{"network": {"inputs": 2, "layers": [{"units": 2, "activation": "tanh"},\n'
    b'   {"units": 1, "activation": "linear"}], "loss": "mse", "name": "r\xc3\xa9seau \xe2\x82\xac"},\n'
    b' "inputs": [[0.5, 1],\n   [2, -3e-2]], "targets": {"shape": [2, 1], "data": [1, 2]},\n'
    b' "params": [{"weight": [[1, 2], [3, 4]], "bias": {"shape": [2], "dtype": "float32",'
    b' "b64": "AACAPwAAAEA="}}, {"weight": [[0.5, -0.5]], "bias": [0]}],\r\n'
    b'\t"note": "\xf0\x9f\x98\x80 \\u00e9"}'
)
SNIPPETS = [
    b"x", b"1e999", b"-1e999", b"9223372036854775808", b"-9223372036854775809", b'"',
    b'"\\x"', b'"\\u12"', b'"\\uD800"', b'"\\uDC00"', b'"\\u0000"', b'"a\x01"', b'"a\nb"',
    b"\xff", b"\xc3", b"\xc0\x80", b"\xe2\x82", b",", b":", b"}", b"]", b"{", b"[", b"\n",
    b"01", b"1.", b"1e", b"-", b"tru", b"nul", b'"inputs": 1,', b'"note": 0,', b'"k\\u0000":1,',
    b"\x00", b" 5", b"\xc3\xa9",
]
ENDS = [b', "inputs": [[1, 2]]}', b"}\n x", b"} 1e999", b'}\n\n  "\xe2\x82\xac"', b', "note": 1}']


def bodies():
    yield BASE
    for k in range(len(BASE)):
        yield BASE[:k]
        yield BASE[:k] + BASE[k + 1:]
    for s in SNIPPETS:
        for k in range(len(BASE) + 1):
            yield BASE[:k] + s + BASE[k:]
    for e in ENDS:
        yield BASE[:-1] + e
    yield BASE[:-1] + b', "d": ' + b"[" * 2100 + b"]" * 2100 + b"}"
    # bigger: 64-32-1 on 300 rows, errors at its start, in and after its tensors
    rng = random.Random(21)
    rows = b",\n".join(b"[" + b", ".join(b"%.6g" % rng.uniform(-1, 1) for _ in range(64)) + b"]"
                       for _ in range(300))
    big = (b'{"network": {"inputs": 64, "layers": [{"units": 32, "activation": "relu"},'
           b' {"units": 1, "activation": "linear"}], "loss": "mse"},\n"inputs": [' + rows +
           b'],\n"targets": [' + b", ".join(b"[1]" for _ in range(300)) + b"]}")
    yield big
    last = big.rindex(b"[1]")
    for bad in (b"1e999", b"9223372036854775808", b"-9223372036854775809", b"1e99999999"):
        yield big[:last + 1] + bad + big[last + 2:]  # the last target
        yield big.replace(b"[", b"[" + bad + b", ", 3)  # the first input
        at = big.index(b"]", len(big) // 2)  # an input in the middle
        yield big[:at] + b", " + bad + big[at:]
        yield big[:-1] + b', "x": ' + bad + b"}"
    yield big[:-1] + b', "inputs": 0}'
    yield big + b"x"
    for k in range(0, len(big), 997):
        yield big[:k]


def ask(port, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", "/gradients", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    headers = sorted((k.lower(), v) for k, v in r.getheaders()
                     if k.lower() not in ("date", "x-request-id"))
    data = re.sub(rb'"request_id":\s*"[^"]*",?', b"", data)
    return r.status, data, headers


def main():
    a, b = int(sys.argv[1]), int(sys.argv[2])
    n = differ = 0
    statuses = {}
    for body in bodies():
        ra, rb = ask(a, body), ask(b, body)
        n += 1
        statuses[ra[0]] = statuses.get(ra[0], 0) + 1
        if ra != rb:
            differ += 1
            if differ <= 20:
                print("DIFFER for", body[:200], "\n ", ra, "\n ", rb)
    print("%d bodies, %d answers differ; statuses %s" % (n, differ, sorted(statuses.items())))
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
