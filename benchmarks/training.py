"""Training throughput (model FLOPs per second) beside the machine's matmul throughput for the same shapes.

A training step of a bias-free MLP is three matrix products per layer
(forward x W^T, backward g W and g^T x): 6 x batch x weights FLOPs. The
machine's throughput is measured on exactly those products at the same batch
size, in the same run. Usage: python -m benchmarks.training
"""

from __future__ import annotations

import time

import torch

from benchmarks.common import median_seconds, report, row
from helpers.config import HIDDEN
from helpers.data import load_mnist
from helpers.model import linear_layers, make_mlp
from helpers.training import RECIPE, fit


def run(examples: int = 20_000) -> list[dict]:
    train, _, _ = load_mnist()
    batch = RECIPE["batch_size"]
    torch.manual_seed(0)
    net = make_mlp(HIDDEN)
    weights = sum(layer.weight.numel() for _, layer in linear_layers(net))
    subset = type(train)(train.images[:examples], train.labels[:examples])
    fit(net, subset, epochs=1, progress=False)  # warm-up
    started = time.perf_counter()
    fit(net, subset, epochs=2, progress=False)
    training = 6 * batch * weights * (2 * examples / batch) / (time.perf_counter() - started)

    shapes = [(layer.in_features, layer.out_features) for _, layer in linear_layers(net)]
    xs = [torch.randn(batch, i) for i, o in shapes]
    ws = [torch.randn(o, i) for i, o in shapes]
    gs = [torch.randn(batch, o) for i, o in shapes]

    def products():
        for x, w, g in zip(xs, ws, gs):
            x @ w.T
            g @ w
            g.T @ x

    matmul = 6 * batch * weights / median_seconds(products, repeat=50, warmup=5)
    return [row("training throughput", f"fit(), batch {batch}, GFLOP/s", training / 1e9,
                "the same matrix products alone, GFLOP/s", matmul / 1e9, ">= 0.75")]


if __name__ == "__main__":
    report(run())
