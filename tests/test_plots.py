"""helpers.plots: the one figure that draws a number pruning decides (the unit-pruning threshold)."""

import matplotlib.pyplot as plt
import pytest
import torch

from helpers import plots
from helpers.model import make_mlp
from helpers.pruning import unit_masks


@pytest.mark.parametrize("k", [0, 0.1, 10, 50, 99])
def test_unit_norms_marks_the_largest_norm_unit_pruning_removes(k):
    torch.manual_seed(0)
    net = make_mlp((40, 24), inputs=12, classes=3)
    figure = plots.unit_norms(net, k)
    for axis, (name, mask) in zip(figure.axes, unit_masks(net, k).items()):
        norms = net.get_submodule(name).weight.detach().norm(dim=1)
        removed = norms[~mask.all(dim=1)]
        lines = [line.get_xdata()[0] for line in axis.get_lines()]
        assert lines == ([pytest.approx(removed.max().item())] if len(removed) else [])
    plt.close(figure)
