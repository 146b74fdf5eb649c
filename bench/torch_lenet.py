#!/usr/bin/python3
"""LeNet-5 training steps in PyTorch and in gradserve, timed side by side.

One step is forward, cross-entropy loss and backward (grads set to None first,
torch 2's zero_grad) of LeNet-5 on [batch, 1, 28, 28] float32:
  conv 6@5x5 padding 2, relu; max_pool 2; conv 16@5x5, relu; max_pool 2;
  flatten; dense 120 relu, 84 relu, 10
in torch an nn.Sequential, in gradserve the same network through gs_backward
(bench_lenet_new in build/bench/libbench_step.so, loaded here with ctypes).
Samples alternate between the two in this process, at each thread count, so a
burst of load from elsewhere on the machine hits both; the medians and their
ratio are printed, one tab-separated line per (threads, what):
  lenet <batch> <threads> torch|gradserve <median_ms> <min_ms> <samples>
and a '#ratio' line: gradserve's median over torch's (below 1: gradserve faster).

usage: torch_lenet.py [--gradserve build/bench/libbench_step.so] [--threads 1,2]
                      [--batch 256] [--samples 21]
"""
import argparse
import ctypes
import os
import statistics
import sys
import time

import torch
import torch.nn as nn


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gradserve", default="build/bench/libbench_step.so")
    ap.add_argument("--threads", default=f"1,{os.cpu_count()}")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--samples", type=int, default=21)
    a = ap.parse_args()

    lib = ctypes.CDLL(a.gradserve)
    lib.bench_lenet_new.restype = ctypes.c_void_p
    lib.bench_lenet_new.argtypes = [ctypes.c_size_t, ctypes.c_uint64, ctypes.c_void_p]
    lib.bench_step_run.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.bench_step_free.argtypes = [ctypes.c_void_p]
    lib.bench_step_set_threads.argtypes = [ctypes.c_int]
    gs = lib.bench_lenet_new(a.batch, 1, None)
    if not gs:
        sys.exit("bench_lenet_new failed")

    torch.manual_seed(1)
    model = lenet()
    x = torch.rand(a.batch, 1, 28, 28)
    y = torch.randint(0, 10, (a.batch,))
    loss_fn = nn.CrossEntropyLoss()

    def torch_step():
        for p in model.parameters():
            p.grad = None
        loss_fn(model(x), y).backward()

    def gs_step():
        if lib.bench_step_run(gs, 1) != 0:
            sys.exit("gradserve's step failed")

    print(f"#meta\ttorch\t{torch.__version__}\n#meta\tbatch\t{a.batch}")
    for n in [int(t) for t in a.threads.split(",")]:
        torch.set_num_threads(n)
        lib.bench_step_set_threads(n)
        for _ in range(3):  # warm-up: pages, thread pools, oneDNN primitives
            torch_step()
            gs_step()
        times = {"torch": [], "gradserve": []}
        for _ in range(a.samples):
            for name, fn in (("torch", torch_step), ("gradserve", gs_step)):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
        med = {}
        for name, ts in times.items():
            med[name] = statistics.median(ts)
            print(f"lenet\t{a.batch}\t{n}\t{name}\t{1e3 * med[name]:.2f}\t{1e3 * min(ts):.2f}"
                  f"\t{a.samples}")
        print(f"#ratio\t{n}\tgradserve/torch\t{med['gradserve'] / med['torch']:.3f}")
        sys.stdout.flush()
    lib.bench_step_free(gs)


if __name__ == "__main__":
    main()
