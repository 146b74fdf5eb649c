"""gradserve: a client for the gradserve HTTP service (standard library plus numpy).

    import numpy as np, gradserve
    c = gradserve.Client("http://127.0.0.1:8080")              # binary bodies
    r = c.gradients(network, inputs=np.zeros((4, 2), np.float32), targets=..., params=...)
    r["gradients"][0]["weight"]                                 # a numpy array

See docs/clients.md.
"""
from .client import Client, ProblemError, Ref, digest_of
from .train import Trainer

__all__ = ["Client", "ProblemError", "Ref", "Trainer", "digest_of"]
