"""Figures of the data and of training: digits, the class balance, learning curves.

Used in 01_training and the explorer.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from helpers.plots.common import add_accuracy_axis


def digits(images: torch.Tensor, labels: torch.Tensor, titles: Sequence[str] | None = None,
           columns: int = 10) -> plt.Figure:
    """A grid of digits (flattened 784-pixel images) with a title under each."""
    n = len(images)
    rows = max(1, -(-n // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(1.1 * columns, 1.25 * rows), squeeze=False)
    for i, axis in enumerate(axes.flat):
        axis.axis("off")
        if i < n:
            axis.imshow(images[i].reshape(28, 28).cpu(), cmap="gray_r")
            axis.set_title(titles[i] if titles else str(int(labels[i])), fontsize=10)
    figure.tight_layout()
    return figure


def class_balance(labels: torch.Tensor, title: str = "class balance") -> plt.Figure:
    """Bar chart of how many examples each digit has."""
    counts = torch.bincount(labels.cpu(), minlength=10).numpy()
    figure, axis = plt.subplots(figsize=(6, 2.8))
    sns.barplot(x=np.arange(10), y=counts, color="C0", ax=axis)
    axis.set(xlabel="digit", ylabel="examples", title=title)
    figure.tight_layout()
    return figure


def learning_curves(history: pd.DataFrame) -> plt.Figure:
    """Loss, and error rate on a log axis (accuracy on the right), per epoch from the table `fit` returns.

    Used in 01_training.
    """
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    left.plot(history["epoch"], history["loss"], "o-")
    left.set(xlabel="epoch", ylabel="training loss (log scale)", yscale="log", title="loss")
    left.yaxis.set_minor_locator(matplotlib.ticker.LogLocator(subs=(2.0, 3.0, 5.0)))  # labelled: a span under a decade
    left.yaxis.set_minor_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    left.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    right.plot(history["epoch"], 100 * (1 - history["train_accuracy"]), "o-", label="train (batches seen)")
    for column, marker in (("validation_accuracy", "s-"), ("test_accuracy", "^-")):
        if column in history and history[column].notna().any():
            right.plot(history["epoch"], 100 * (1 - history[column]), marker, label=column.split("_")[0])
    right.set(xlabel="epoch", ylabel="error (%), log scale", title="error rate", yscale="log")
    right.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda e, _: f"{e:g}"))
    add_accuracy_axis(right)
    right.legend(loc="lower left")
    figure.tight_layout()
    return figure


def digit_strip(images: torch.Tensor, titles: Sequence[str], title: str = "") -> plt.Figure:
    """Digits side by side in one image (fast to redraw), with a caption under each."""
    strip = torch.cat([image.reshape(28, 28).cpu() for image in images], dim=1) if len(images) else torch.zeros(28, 28)
    figure, axis = plt.subplots(figsize=(max(1.0, 0.75 * len(images)) + 0.4, 1.5))
    axis.imshow(strip, cmap="gray_r")
    axis.set_xticks([28 * i + 14 for i in range(len(titles))], titles, fontsize=9)
    axis.set_yticks([])
    axis.set_title(title, fontsize=9)
    axis.grid(False)
    figure.subplots_adjust(left=0.02, right=0.98, bottom=0.22, top=0.8)
    return figure
