#!/usr/bin/python3
"""The reference side of `make bench`: the step bench_core times, in PyTorch and in NumPy.

One step is forward, loss and backward of the same dense ReLU nets as bench_core.c
(same shapes, batches and losses, float32): in torch an nn.Sequential with
loss.backward() and the grads set to None before each step (torch 2's default
zero_grad), in numpy a hand-written forward/backward with matmuls. Timing follows
bench_core: warm-up, samples of back-to-back calls lasting >= 5 ms, the median.

With --gradserve LIB (build/bench/libbench_step.so, bench/lib/step.h), gradserve's
step on the same shape is timed in this process too, in alternating samples with the
framework's: both call the one OpenBLAS loaded here (numpy's and torch's libblas.so.3
is Debian's thin wrapper around the libopenblas.so.0 the core links), with one thread
count, in one time window. The machine's speed drifts by several percent between
processes on a shared VM, more than the margin between two GEMM-bound steps, so the
framework ratios in bench/results.md come from these pairs.

Output: bench_core's tab-separated format ('#' lines are metadata), with bench
"torch" or "numpy" and what "step" (the framework) or "gradserve" (gradserve's step
timed beside it). A framework that cannot be imported prints one "#skip" line and
exits 0.

usage: torch_bench.py --framework torch|numpy --threads N [--budget S] [--only SHAPE:BATCH]
                      [--gradserve LIB]

Thread count: run.sh starts one process per (framework, thread count) with
OPENBLAS_NUM_THREADS and OMP_NUM_THREADS set to N, which both torch (whose matmuls
go to the system OpenBLAS here) and numpy obey; torch.set_num_threads(N) and, where
installed, threadpoolctl are applied on top. The count OpenBLAS really uses is
reported as #meta openblas_threads.
"""
import argparse
import ctypes
import math
import os
import sys
import time

# (name, batch, sizes: inputs then units per layer, loss); hidden layers ReLU,
# last layer linear (logits for cross-entropy). Keep in step with bench_core.c.
SHAPES = [
    ("2-4-1", 4, [2, 4, 1], "mse"),
    ("784-128-10", 64, [784, 128, 10], "ce"),
    ("784-512-512-10", 256, [784, 512, 512, 10], "ce"),
    ("784-512-512-10", 1000, [784, 512, 512, 10], "ce"),
    ("1024-4096-4096-1024", 512, [1024, 4096, 4096, 1024], "mse"),
]

MIN_SAMPLES, MAX_SAMPLES = 7, 101
SAMPLE_MIN_S = 0.005
WARMUP_S = 0.05


def gemm_flops(batch, sizes):
    f = 0.0
    for l in range(len(sizes) - 1):
        f += 2.0 * batch * sizes[l] * sizes[l + 1] * (3 if l > 0 else 2)
    return f


def measure(fns, budget_s):
    """Median and min seconds per call of each fn, as bench_core's measure(): a
    warm-up each, then samples in turns (sample k of every fn before sample k+1
    of any), so that a change in the machine's speed hits them alike. Each sample
    starts with one untimed call, so that no fn pays for refilling the caches and
    TLB after another (numpy, the most memory-hungry, lost 7% without it). A fn
    takes the number of back-to-back calls to make."""
    clock = time.perf_counter  # CLOCK_MONOTONIC on Linux
    inner, per_sample = [], 0.0
    for fn in fns:
        t0 = clock()
        fn(1)
        once = clock() - t0
        warm = 1
        while clock() - t0 < WARMUP_S or warm < 2:
            t1 = clock()
            fn(1)
            once = min(once, clock() - t1)
            warm += 1
        k = 1 if once >= SAMPLE_MIN_S else math.ceil(SAMPLE_MIN_S / max(once, 1e-9))
        inner.append(k)
        per_sample = max(per_sample, once * k)
    samples = int(min(MAX_SAMPLES, max(MIN_SAMPLES, math.ceil(budget_s / per_sample))))
    s = [[] for _ in fns]
    for _ in range(samples):
        for i, fn in enumerate(fns):
            fn(1)
            t1 = clock()
            fn(inner[i])
            s[i].append((clock() - t1) / inner[i])
    out = []
    for i, si in enumerate(s):
        si.sort()
        n = len(si)
        median = si[n // 2] if n % 2 else 0.5 * (si[n // 2 - 1] + si[n // 2])
        out.append((median, si[0], samples, inner[i]))
    return out


def openblas_files():
    """The OpenBLAS shared objects mapped in this process (one, when the framework
    and gradserve's library share it)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {ln.split()[-1] for ln in f if len(ln.split()) >= 6}
    except OSError:
        return []
    return sorted(p for p in paths if "openblas" in os.path.basename(p) and ".so" in p)


def loaded_openblas():
    """The OpenBLAS this process has loaded (ctypes handle), or None."""
    for p in openblas_files():
        try:
            lib = ctypes.CDLL(p)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            return lib
        except (OSError, AttributeError):
            continue
    return None


# ---- torch ---------------------------------------------------------------------

def torch_step_fn(torch, batch, sizes, loss, gen):
    nn = torch.nn
    mods = []
    for l in range(len(sizes) - 1):
        mods.append(nn.Linear(sizes[l], sizes[l + 1]))
        if l + 2 < len(sizes):
            mods.append(nn.ReLU())
    model = nn.Sequential(*mods).float()
    x = torch.rand(batch, sizes[0], generator=gen) * 2 - 1
    if loss == "ce":
        y = torch.randint(0, sizes[-1], (batch,), generator=gen)
        lossfn = nn.CrossEntropyLoss()
    else:
        y = torch.rand(batch, sizes[-1], generator=gen) * 2 - 1
        lossfn = nn.MSELoss()

    def step():
        model.zero_grad(set_to_none=True)
        out = lossfn(model(x), y)
        out.backward()
        return out

    return step


# ---- numpy ---------------------------------------------------------------------

def numpy_step_fn(np, batch, sizes, loss, rng):
    f32 = np.float32
    n_layers = len(sizes) - 1
    W, b = [], []
    for l in range(n_layers):
        bound = 1.0 / math.sqrt(sizes[l])
        W.append(rng.uniform(-bound, bound, (sizes[l + 1], sizes[l])).astype(f32))  # [out, in]
        b.append(rng.uniform(-bound, bound, sizes[l + 1]).astype(f32))
    x = rng.uniform(-1, 1, (batch, sizes[0])).astype(f32)
    rows = np.arange(batch)
    if loss == "ce":
        y = rng.integers(0, sizes[-1], batch)
    else:
        y = rng.uniform(-1, 1, (batch, sizes[-1])).astype(f32)
    grads = [None] * (2 * n_layers)

    def step():
        acts = [x]  # a_{l-1} for each layer; post-ReLU (ReLU' from a > 0)
        a = x
        for l in range(n_layers):
            z = a @ W[l].T + b[l]
            a = np.maximum(z, 0) if l + 1 < n_layers else z
            acts.append(a)
        out = acts[-1]
        if loss == "ce":
            m = out.max(axis=1, keepdims=True)
            e = np.exp(out - m)
            s = e.sum(axis=1, keepdims=True)
            value = float(np.mean(np.log(s[:, 0]) + m[:, 0] - out[rows, y]))
            d = e / s
            d[rows, y] -= 1
            d *= f32(1.0 / batch)
        else:
            diff = out - y
            value = float(np.mean(diff * diff))
            d = diff * f32(2.0 / diff.size)
        for l in range(n_layers - 1, -1, -1):
            grads[2 * l] = d.T @ acts[l]  # dW [out, in]
            grads[2 * l + 1] = d.sum(axis=0)
            if l > 0:
                d = (d @ W[l]) * (acts[l] > 0)
        return value

    return step


# ---- gradserve, through bench/lib/step.h --------------------------------------

def load_gradserve(path, threads):
    lib = ctypes.CDLL(path)
    sz = ctypes.c_size_t
    lib.bench_step_new.restype = ctypes.c_void_p
    lib.bench_step_new.argtypes = [ctypes.POINTER(sz), sz, sz, ctypes.c_char_p, ctypes.c_uint64,
                                   ctypes.POINTER(ctypes.c_char_p)]
    lib.bench_step_run.restype = ctypes.c_int
    lib.bench_step_run.argtypes = [ctypes.c_void_p, sz]
    lib.bench_step_loss.restype = ctypes.c_double
    lib.bench_step_loss.argtypes = [ctypes.c_void_p]
    lib.bench_step_free.restype = None
    lib.bench_step_free.argtypes = [ctypes.c_void_p]
    lib.bench_step_set_threads.argtypes = [ctypes.c_int]
    lib.bench_step_set_threads(threads)
    return lib


class GradserveStep:
    """gradserve's step on one shape; calling it with n runs n steps in C."""

    def __init__(self, lib, batch, sizes, loss, seed):
        arr = (ctypes.c_size_t * len(sizes))(*sizes)
        why = ctypes.c_char_p()
        self.lib = lib
        self.h = lib.bench_step_new(arr, len(sizes), batch, loss.encode(), seed, ctypes.byref(why))
        if not self.h:
            raise RuntimeError(f"bench_step_new: {why.value.decode()}")

    def __call__(self, n):
        if self.lib.bench_step_run(self.h, n) != 0:
            raise RuntimeError("gradserve step failed or its loss is not finite")

    def close(self):
        self.lib.bench_step_free(self.h)


# ---- main ----------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--framework", choices=["torch", "numpy"], required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--budget", type=float, default=0.5)
    ap.add_argument("--only", default=None, help="SHAPE:BATCH, e.g. 784-128-10:64")
    ap.add_argument("--gradserve", default=None, help="libbench_step.so: time gradserve beside")
    args = ap.parse_args()
    fw, t = args.framework, args.threads

    try:
        import numpy as np
        torch = None
        if fw == "torch":
            import torch
    except Exception as e:  # ImportError, or a broken install
        print(f"#skip\t{fw}\t{type(e).__name__}: {e}")
        return 0

    limiter = "env OPENBLAS_NUM_THREADS/OMP_NUM_THREADS"
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(t)
        limiter += " + threadpoolctl"
    except ImportError:
        pass
    if torch is not None:
        torch.set_num_threads(t)
    gs = load_gradserve(args.gradserve, t) if args.gradserve else None

    lib = loaded_openblas()
    if lib is not None:
        print(f"#meta\t{fw}\tcorename\t{lib.openblas_get_corename().decode()}")
        print(f"#meta\t{fw}\topenblas_config\t{lib.openblas_get_config().decode()}")
        print(f"#meta\t{fw}\topenblas_threads@{t}\t{lib.openblas_get_num_threads()}")
        print(f"#meta\t{fw}\topenblas_files\t{' '.join(openblas_files())}")
    else:
        print(f"#meta\t{fw}\tcorename\t(no OpenBLAS loaded)")
    print(f"#meta\t{fw}\tversion\t{(torch or np).__version__}")
    print(f"#meta\t{fw}\tthread_limit\t{limiter}")
    if torch is not None:
        print(f"#meta\t{fw}\ttorch_threads@{t}\t{torch.get_num_threads()}")
    sys.stdout.flush()

    for i, (name, batch, sizes, loss) in enumerate(SHAPES):
        if args.only and args.only != f"{name}:{batch}":
            continue
        if torch is not None:
            gen = torch.Generator().manual_seed(1234 + i)
            step = torch_step_fn(torch, batch, sizes, loss, gen)
            value = float(step())
        else:
            step = numpy_step_fn(np, batch, sizes, loss, np.random.default_rng(1234 + i))
            value = step()
        if not math.isfinite(value):
            print(f"{fw}: non-finite loss at {name}:{batch}", file=sys.stderr)
            return 1
        fns = [lambda n, step=step: [step() for _ in range(n)]]
        whats = ["step"]
        if gs is not None:
            fns.append(GradserveStep(gs, batch, sizes, loss, 1234 + i))
            whats.append("gradserve")
        for what, (med, mn, samples, inner) in zip(whats, measure(fns, args.budget)):
            gf = gemm_flops(batch, sizes) / med * 1e-9
            print(f"{fw}\t{name}\t{batch}\t{t}\t{what}\t{med * 1e6:.3f}\t{mn * 1e6:.3f}"
                  f"\t{samples}\t{inner}\t{gf:.2f}")
        sys.stdout.flush()
        if gs is not None:
            fns[1].close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
