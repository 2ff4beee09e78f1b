"""Before, during or after training: every way of the series to reach a share of weights, trained the same way.

One function, `train_arm`, trains one *arm* (a method and when it prunes) to `keep`% of the hidden weights
(the output layer stays dense, as everywhere in the series) and returns one row: final validation and test
accuracy, the share of weights kept and connected, and the training cost as a share of the dense baseline's
training, in multiply-adds counted from the masks at every step (`sparse_training.train_sparse`).

- **before** training (`helpers.at_init`): SNIP, GraSP, SynFlow and the shuffle control (SNIP's masks permuted
  within each layer), the masks then held fixed for `EPOCHS` epochs;
- **during**: RigL, sparse from the first step, gradual magnitude pruning, which starts dense, and the same
  schedule from random masks at `SPARSE_START`% ("gradual, sparse start");
- **after**: the trained baseline pruned by magnitude (layer-wise, the series' weight pruning) and fine-tuned
  with `retraining.FINE_TUNE`; its cost includes the baseline's dense training.

Every arm that trains from scratch uses the same recipe, `SPARSE_RECIPE`, for the baseline's number of epochs:
the equal training budget of the comparison is the number of passes over the data, not the multiply-adds.

Used in 10_when_to_prune and benchmarks/when_to_prune.py.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from helpers import at_init
from helpers.criteria import CALIBRATION_SIZE, calibration
from helpers.data import MNIST
from helpers.pruning import masks_for
from helpers.retraining import FINE_TUNE, fine_tune
from helpers.sparse_training import train_sparse, training_flops
from helpers.training import RECIPE, baseline, evaluate, initial_network

__all__ = ["ARMS", "WHEN", "SPARSE_FROM_START", "SPARSE_START", "SPARSE_RECIPE", "EPOCHS", "dense_training_flops", "arm_masks", "train_arm"]

#: Each arm and when it prunes, in the order of the tables.
WHEN = {"SNIP": "before", "SNIP, shuffled": "before", "GraSP": "before", "SynFlow": "before",
        "RigL": "during", "gradual": "during", "gradual, sparse start": "during", "magnitude + fine-tuning": "after"}
ARMS = tuple(WHEN)

#: The arms whose every training step is sparse (the others train dense first).
SPARSE_FROM_START = ("SNIP", "SNIP, shuffled", "GraSP", "SynFlow", "RigL", "gradual, sparse start")

#: "gradual, sparse start": the random masks it starts from keep this % of the hidden weights (ERK shares), then
#: it prunes them by magnitude on gradual's schedule to `keep`. Chosen on validation, seed 0, 10 epochs, 1% kept
#: (`train_arm("gradual, sparse start", 1.0, data, initial=S)`): S = 5: 97.42%, 10: 97.90%, 15: 97.88% (the
#: cheaper of the two best; training costs 2.13%, 3.44% and 4.75% of the dense one).
SPARSE_START = 10.0

#: The baseline's number of epochs: the equal training budget of every arm that trains from scratch.
EPOCHS = RECIPE["epochs"]

#: How the arms that train from scratch train: AdamW, a one-cycle schedule to a peak of 3e-3, batch 128 (the same
#: for every arm; not tuned per arm).
SPARSE_RECIPE = dict(optimizer="adam", lr=3e-3, schedule="one-cycle", batch_size=128)

_AT_INIT = {"SNIP": "snip", "GraSP": "grasp", "SynFlow": "synflow"}


def dense_training_flops(net: nn.Module, examples: int, epochs: int = EPOCHS) -> int:
    """Multiply-adds of the dense baseline's training: `epochs` passes over `examples` images."""
    return epochs * training_flops(net, None, examples)


def _batch(data: MNIST):
    """The images SNIP and GraSP score on: the series' calibration batch (all of a smaller training set)."""
    return calibration(data.train, min(CALIBRATION_SIZE, len(data.train)))


def arm_masks(arm: str, net: nn.Module, keep: float, data: MNIST, seed: int = 0) -> dict[str, torch.Tensor]:
    """The masks a before-training arm holds fixed, chosen on the freshly initialised `net`."""
    if arm == "SNIP, shuffled":
        return at_init.shuffle_masks(arm_masks("SNIP", net, keep, data, seed), seed=seed)
    if arm not in _AT_INIT:
        raise ValueError(f"{arm!r} does not prune before training; those that do: {[*_AT_INIT, 'SNIP, shuffled']}")
    return at_init.masks_at_init(net, _AT_INIT[arm], keep, data=_batch(data), seed=seed)


def _row(arm: str, keep: float, seed: int, net: nn.Module, data: MNIST, flops: int, dense: int, masks: dict,
         epochs: float, started: float) -> dict:
    shares = at_init.shares_kept(net, masks).set_index("layer")
    return dict(arm=arm, when=WHEN[arm], keep=keep, seed=seed, epochs=epochs,
                validation_accuracy=evaluate(net, data.validation), accuracy=evaluate(net, data.test),
                kept_share=shares.loc["total", "kept %"], connected_share=shares.loc["total", "on_path %"],
                collapsed=" ".join(at_init.collapsed(net, masks)), flops_share=flops / dense,
                seconds=time.perf_counter() - started)


def train_arm(arm: str, keep: float, data: MNIST, seed: int = 0, epochs: int = EPOCHS, progress: bool = False,
              trained: nn.Module | None = None, **recipe) -> tuple[nn.Module, dict]:
    """Train `arm` (one of `ARMS`) to `keep`% of the hidden weights on `seed`'s network.

    Args:
        arm: the method; `WHEN[arm]` says when it prunes.
        keep: percentage of the hidden weights kept, in (0, 100].
        data: MNIST(train, validation, test) from `load_mnist`.
        seed: the network's initialisation (`initial_network(seed)`) and the batch order; the after arm prunes
            `baseline(seed)` (trained and cached first if missing; never modified).
        epochs: passes over the training set of the arms that train from scratch (the after arm fine-tunes
            for `FINE_TUNE["epochs"]` after the baseline's `EPOCHS`).
        progress: show progress bars.
        trained: the after arm's trained network (default `baseline(seed)`); not modified.
        **recipe: overrides of `SPARSE_RECIPE`, or of `FINE_TUNE` for the after arm.

    Returns:
        (the trained network, one row: arm, when, keep, seed, epochs, validation_accuracy, accuracy (test),
        kept_share and connected_share (% of all weights, output layer included), collapsed (the layers left
        with no weight), flops_share (training multiply-adds / the dense baseline's; choosing the masks counted)).
    """
    if arm not in WHEN:
        raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")
    at_init.check_keep(keep)
    started = time.perf_counter()
    fresh = initial_network(seed)
    dense = dense_training_flops(fresh, len(data.train))
    if WHEN[arm] == "after":
        trained = trained if trained is not None else baseline(seed, data=data, progress=progress)[0]
        masks = masks_for(trained, 100 - keep, "weight")
        tuned, _ = fine_tune(trained, masks, data.train, seed=seed, progress=progress, **recipe)
        steps = {**FINE_TUNE, **recipe}["epochs"]
        flops = dense + steps * training_flops(tuned, masks, len(data.train))
        return tuned.eval(), _row(arm, keep, seed, tuned, data, flops, dense, masks, EPOCHS + steps, started)
    options = {**SPARSE_RECIPE, **recipe}
    if arm in ("RigL", "gradual"):
        run = train_sparse(fresh, data.train, arm.lower(), keep, epochs=epochs, seed=seed, progress=progress, **options)
        flops = run.flops
    elif arm == "gradual, sparse start":
        options = {"initial": SPARSE_START, "distribution": "erk", **options}
        run = train_sparse(fresh, data.train, "gradual", keep, epochs=epochs, seed=seed, progress=progress, **options)
        flops = run.flops
    else:
        masks = arm_masks(arm, fresh, keep, data, seed)
        run = train_sparse(fresh, data.train, "fixed", masks=masks, epochs=epochs, seed=seed, progress=progress,
                           **options)
        method = _AT_INIT.get(arm, "snip")
        flops = run.flops + at_init.scoring_flops(fresh, method, examples=len(_batch(data)))
    return run.net, _row(arm, keep, seed, run.net, data, flops, dense, run.masks, epochs, started)
