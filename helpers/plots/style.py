"""The series' look: the colour, marker and line style of each thing drawn, and `use_style`, the theme.

Importing `helpers.plots` changes no matplotlib or seaborn setting: a notebook calls
`plots.use_style()` once in its setup cell, and code that draws outside a notebook (the
explorer, `benchmarks.seeds`) calls it itself.
"""

from __future__ import annotations

import seaborn as sns

from helpers.criteria import COLOURS

#: Colour of each pruning method, the same in every figure.
METHOD_COLORS = {"weight": "C0", "unit": "C3"}

#: Colours of the cut lines, one per k (dark: they must show over grey and blue bars).
CUT_COLORS = ["#d95f02", "#7b3294", "#000000", "#1b7837", "#b2182b"]

#: Marker and colour of each procedure (one-shot, fine-tuned, ...) in `dumbbell`.
PROCEDURE_STYLES = {"one-shot": ("o", "0.55"), "fine-tuned": ("D", "C0"), "iterative": ("s", "C2"),
                    "gradual": ("^", "C1")}

#: Marker of each form a network is shipped in (`pareto`, `speed_and_size_vs_k`).
FORM_MARKERS = {"CSR": "o", "dense + gzip": "s", "compacted": "^", "nn.Sequential": "D", "to_inference": "D",
                "state_dict": "D", "Deep Compression": "*", "ONNX": "P", "ONNX, masked": "X", "int8": "v"}

#: One colour per criterion, the same in every panel and notebook.
CRITERION_COLORS = COLOURS  # one colour per criterion, from its record in helpers.criteria (REGISTRY)

#: Marker, colour and line style of each branch of `lottery.branch`, the ticket first.
BRANCH_STYLES = {"ticket": ("o", "C0", "-"), "reinitialised": ("s", "C3", "--"), "random mask": ("^", "0.45", "--"),
                 "no rewind": ("D", "C2", ":"), "late rewind": ("v", "C4", "-."),
                 "reinitialised, rescaled": ("X", "C1", "--")}

#: Colour of each time of pruning in notebook 10 (before, during or after training).
WHEN_COLORS = {"before": "C1", "during": "C2", "after": "C0", "dense": "0.3"}


def use_style() -> None:
    """Apply the series' theme to matplotlib: seaborn's white grid at notebook sizes.

    It sets matplotlib's rcParams (and seaborn's colour codes), so it changes every figure
    drawn after it; calling it again changes nothing more. Call it once in a notebook's setup cell.

    Used in every notebook.

    >>> import matplotlib
    >>> with matplotlib.rc_context():  # the settings come back after the block
    ...     use_style()
    ...     matplotlib.rcParams["axes.grid"]
    True
    """
    sns.set_theme(style="whitegrid", context="notebook")
