"""The /gradients route of gradserve, in Flask with PyTorch: the comparison
service bench/http.sh runs under gunicorn (2 sync workers) on the same
machine. It takes the same JSON (network, params, inputs, targets; nested
arrays) and answers with the loss and the per-layer gradients, computed as
gradserve computes them (dense layers, the activations and losses used by the
benchmark request). Debian packages: python3-flask, gunicorn, python3-torch.

  gunicorn -w 2 -b 127.0.0.1:PORT --chdir bench flask_app:app
"""
import torch
from flask import Flask, jsonify, request

torch.set_num_threads(1)  # 2 workers on 2 cores: one thread each
app = Flask(__name__)

ACT = {"linear": lambda z: z, "relu": torch.relu, "tanh": torch.tanh,
       "sigmoid": torch.sigmoid}


@app.post("/gradients")
def gradients():
    req = request.get_json(force=True)
    net = req["network"]
    params = []
    for p in req["params"]:
        params.append((torch.tensor(p["weight"], dtype=torch.float32, requires_grad=True),
                       torch.tensor(p["bias"], dtype=torch.float32, requires_grad=True)))
    a = torch.tensor(req["inputs"], dtype=torch.float32)
    y = torch.tensor(req["targets"], dtype=torch.float32)
    layers = net["layers"]
    loss_name = net.get("loss", "mse")
    for i, ((w, b), layer) in enumerate(zip(params, layers)):
        z = a @ w.T + b
        last = i == len(layers) - 1
        if last and loss_name == "binary_cross_entropy":
            a = z  # fused with the loss, from the logits
        else:
            a = ACT[layer["activation"]](z)
    if loss_name == "binary_cross_entropy":
        loss = torch.nn.functional.binary_cross_entropy_with_logits(a, y)
    else:
        loss = torch.nn.functional.mse_loss(a, y)
    loss.backward()
    return jsonify({"loss": loss.item(),
                    "gradients": [{"weight": w.grad.tolist(), "bias": b.grad.tolist()}
                                  for w, b in params]})
