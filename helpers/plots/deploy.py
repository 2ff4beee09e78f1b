"""Figures of what to ship: Pareto plots of accuracy against speed, bytes or latency, speed and size
against k, and Deep Compression step by step.

Used in 05_speed_and_size and 09_ship_it.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.plots.common import add_accuracy_axis
from helpers.plots.style import FORM_MARKERS, METHOD_COLORS

#: Columns `pareto` draws as costs (less is better, the axis reversed so that better is to the right), with their units.
COST_UNITS = {"bytes": "MB", "latency_ms": "ms", "batch_ms": "ms"}


def _series(row) -> str:
    if row.method == "dense":
        return "dense network" if row.form in ("nn.Sequential", "to_inference") else f"dense, {row.form}"
    return f"{row.method}, {row.form}, {row.procedure}"


POINT_LABEL = "point label"
"""The gid of the k labels `pareto` writes beside its points (`arrange_labels` moves them)."""

_LABEL_OFFSETS = [(5, 3), (5, -11), (-5, 3), (-5, -11), (5, 13), (5, -21), (-5, 13), (-5, -21),
                  (9, -4), (-9, -4), (5, 23), (5, -31), (-5, 23), (-5, -31), (20, -4), (-20, -4),
                  (5, 33), (5, -41), (-5, 33), (-5, -41)]


def arrange_labels(axis: plt.Axes, marker_radius: float = 5.0) -> None:
    """Move the point labels of `axis` (texts with gid `POINT_LABEL`) so that they overlap neither each other
    nor any labelled point; a label with the same text and colour as one already placed within a few
    pixels is hidden (it would say the same thing in the same place).

    Call it once the figure's layout is final: positions are worked out in pixels. Each label tries
    offsets around its point in turn and takes the first free one (else the least crowded).
    """
    labels = [t for t in axis.texts if t.get_gid() == POINT_LABEL]
    if not labels:
        return
    scale = axis.figure.dpi / 72  # points to pixels
    to_pixels = axis.transData.transform
    anchors = [to_pixels(t.xy) for t in labels]
    radius = marker_radius * scale
    obstacles = [(x - radius, y - radius, x + radius, y + radius) for x, y in anchors]
    frame = axis.bbox

    def clash(box, others):
        return sum(max(0.0, min(box[2], o[2]) - max(box[0], o[0])) * max(0.0, min(box[3], o[3]) - max(box[1], o[1]))
                   for o in others)

    placed: list[tuple[float, float, float, float]] = []
    kept: list[tuple[str, str, float, float]] = []
    for text, (x, y) in zip(labels, anchors):
        key = (text.get_text(), str(text.get_color()))
        if any(k == key[0] and c == key[1] and abs(x - px) < 4 and abs(y - py) < 4 for k, c, px, py in kept):
            text.set_visible(False)
            continue
        kept.append((*key, x, y))
        width = 0.62 * text.get_fontsize() * len(text.get_text()) * scale
        height = 0.8 * text.get_fontsize() * scale
        best = None
        for dx, dy in _LABEL_OFFSETS:
            left = x + dx * scale if dx > 0 else x + dx * scale - width
            box = (left, y + dy * scale, left + width, y + dy * scale + height)
            outside = max(0.0, width * height - clash(box, [(frame.x0, frame.y0, frame.x1, frame.y1)]))
            score = 10 * clash(box, placed) + clash(box, obstacles) + outside  # overlapping labels are worst
            score = score if score > 1e-6 else 0.0  # float rounding of the areas
            if best is None or score < best[0]:
                best = (score, dx, dy, box)
            if score == 0:
                break
        _, dx, dy, box = best
        text.xyann = (dx, dy)
        text.set_horizontalalignment("left" if dx > 0 else "right")
        placed.append(box)


def _bytes_label(value: float, _=None) -> str:
    """A tick label for bytes: "2 MB" from a million bytes on, "50 kB" below."""
    return f"{value / 1e6:g} MB" if value >= 1e6 else f"{value / 1e3:g} kB"


def pareto(points: pd.DataFrame, x: str = "speedup", accuracy: str = "validation_accuracy",
           floor: float | None = None, axis: plt.Axes | None = None, xlabel: str | None = None,
           legend: str | None = "upper left") -> plt.Figure:
    """Error (log axis, drawn downward so that better is up) against a measured gain or cost (log axis,
    better to the right), one marker per network and form, the Pareto front joined and ringed, every
    point labelled with its k (labels moved apart by `arrange_labels`).

    The error axis is zoomed on the networks worth shipping (up to 4x the error of `floor`); points
    beyond it sit on the bottom edge (their errors are in the table).

    Args:
        points: a `helpers.deploy.shipping_table` (or its rows): method, k, procedure, form, the columns
            `accuracy` (0-1) and `x`, and a boolean column "front"; rows with a False "eligible"
            column are drawn faded; a "label" column, if there is one, replaces the k beside each point.
        x: "speedup" (more is better), or a cost of `COST_UNITS` ("bytes", "latency_ms", "batch_ms": less is
            better, the axis is inverted); any other column is drawn as more-is-better.
        accuracy: the accuracy column drawn (validation: the one networks are chosen on).
        floor: the lowest accuracy worth shipping (0-1), drawn as a dotted line: networks above it qualify.
        axis: draw into this axis instead of a new figure.
        xlabel: the x label (default: says what `x` is).
        legend: where the legend goes ("outside": to the right of the axis; None: no legend).

    Colour: method (dense in black); marker: form; filled: fine-tuned, hollow: one-shot.

    Used in 05_speed_and_size (through `pareto_panels`).
    """
    missing = {"method", "k", "procedure", "form", accuracy, x, "front"} - set(points.columns)
    if missing:
        raise ValueError(f"points lacks the columns {sorted(missing)}")
    if axis is None:
        figure, axis = plt.subplots(figsize=(6.4, 4.6))
    figure = axis.figure
    eligible = points["eligible"] if "eligible" in points else pd.Series(True, index=points.index)
    true_error = (100 * (1 - points[accuracy])).clip(lower=0.01)
    shown = true_error[eligible] if eligible.any() else true_error
    top = min(100.0, 4 * max(shown.max(), 100 * (1 - floor) if floor is not None else 0))
    error = true_error.clip(upper=top)
    for series, group in points.groupby(points.apply(_series, axis=1), sort=False):
        first = group.iloc[0]
        color = "0.1" if first["method"] == "dense" else METHOD_COLORS.get(first["method"], "0.4")
        filled = first["procedure"] != "one-shot"
        labelled = False
        for faded in (False, True):
            part = group[(~eligible[group.index]) == faded]
            if len(part):
                axis.plot(part[x], error[part.index], ls="none", marker=FORM_MARKERS.get(first["form"], "D"), ms=7,
                          color=color, mfc=color if filled else "white", alpha=0.3 if faded else 1, clip_on=False,
                          label=None if labelled else series)
                labelled = True
        for index, row in group.iterrows():
            text = row["label"] if "label" in row else "dense" if row["method"] == "dense" else f"{row['k']:g}"
            axis.annotate(text, (row[x], error[index]), xytext=(5, 3), textcoords="offset points", fontsize=8,
                          color=color, alpha=0.45 if not eligible[index] else 1, gid=POINT_LABEL)
    front = points[points["front"].astype(bool)].sort_values(x)
    if len(front):
        axis.plot(front[x], error[front.index], color="0.2", lw=1, ls="--", zorder=1)
        axis.plot(front[x], error[front.index], ls="none", marker="o", ms=13, mfc="none", mec="0.2", mew=1.2,
                  label="Pareto front")
    if floor is not None:
        axis.axhline(100 * (1 - floor), color="0.4", lw=1, ls=":",
                     label=f"worth shipping: accuracy ≥ {100 * floor:.2f}% (above this line)")
    axis.set_xscale("log")
    axis.set_yscale("log")
    low, _ = axis.get_ylim()
    axis.set_ylim(top * 1.05, low / 1.15)  # inverted: the lowest error, the best network, at the top (room for labels)
    if x in COST_UNITS:
        axis.invert_xaxis()
    ticks = matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0))
    axis.xaxis.set_major_locator(ticks)
    axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axis.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
        _bytes_label if x == "bytes" else (lambda v, _: f"{v:g} ms") if x in COST_UNITS
        else (lambda v, _: f"{v:g}x" if x == "speedup" else f"{v:g}")))
    axis.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axis.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda e, _: f"{e:g}"))
    add_accuracy_axis(axis)
    default = {"speedup": "measured speedup over dense (reference per form, see table), log scale",
               "bytes": "bytes on disk (log scale, smaller to the right)",
               "latency_ms": "latency, one image (ms, log scale, faster to the right)",
               "batch_ms": "time for the test set as one batch (ms, log scale, faster to the right)"}.get(x, x)
    axis.set(xlabel=xlabel or default,
             ylabel=f"{accuracy.replace('_', ' ').replace('accuracy', 'error')} (%), log, better ↑")
    if legend == "outside":
        axis.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.15, 1), borderaxespad=0)
    elif legend:
        axis.legend(fontsize=9, loc=legend)
    figure.tight_layout()
    arrange_labels(axis)
    return figure


def pareto_panels(panels: Mapping[str, pd.DataFrame], floor: float | None = None,
                  titles: Mapping[str, str] | None = None, accuracy: str = "validation_accuracy") -> plt.Figure:
    """Several `pareto` panels side by side, one per x column, with one legend below them all.

    Args:
        panels: {x column ("speedup", "bytes"): the points of that panel (see `pareto`)}.
        floor: the lowest accuracy worth shipping (0-1).
        titles: {x column: the panel's title}.
        accuracy: the accuracy column drawn.

    Used in 05_speed_and_size.
    """
    figure, axes = plt.subplots(1, len(panels), figsize=(7.5 * len(panels), 6), squeeze=False)
    handles = {}
    for axis, (x, points) in zip(axes[0], panels.items()):
        pareto(points, x, accuracy=accuracy, floor=floor, axis=axis, legend=None)
        axis.set_title((titles or {}).get(x, ""))
    for axis in sorted(axes[0], key=lambda a: -len(a.get_legend_handles_labels()[1])):  # the fullest legend's order first
        for handle, label in zip(*axis.get_legend_handles_labels()):
            if label not in handles or (handles[label].get_alpha() or 1) < (handle.get_alpha() or 1):
                handles[label] = handle  # an unfaded handle, from the panel where the network is worth shipping
    columns = 3
    figure.legend(list(handles.values()), list(handles), loc="lower center", ncol=columns, fontsize=10, frameon=False)
    rows = -(-len(handles) // columns)
    figure.tight_layout(rect=(0, 0.045 * rows + 0.01, 1, 1))
    for axis in axes[0]:
        arrange_labels(axis)
    return figure


def speed_and_size_vs_k(table: pd.DataFrame) -> plt.Figure:
    """Three panels against k: test error, measured speedup (with the FLOP ratio dotted) and times smaller
    on disk, one line per method and form; one-shot solid with hollow markers, fine-tuned dashed with
    filled ones; each panel's legend below it.

    Args:
        table: a `helpers.deploy.shipping_table`: method, k, procedure, form, accuracy, speedup,
            flop_ratio, smaller. The dense rows are left out (they are the reference, 1x). Each
            speedup is against the dense network the table names in `compared_with`.

    Used in 05_speed_and_size.
    """
    missing = {"method", "k", "procedure", "form", "accuracy", "speedup", "flop_ratio", "smaller"} - set(table.columns)
    if missing:
        raise ValueError(f"table lacks the columns {sorted(missing)}")
    pruned = table[table["method"] != "dense"].sort_values("k")
    figure, (accuracy_axis, speed_axis, size_axis) = plt.subplots(1, 3, figsize=(16, 6.2))
    styles = {"one-shot": "-", "fine-tuned": "--"}

    def look(procedure, color):
        filled = procedure != "one-shot"
        return dict(ls=styles.get(procedure, "-."), color=color, mfc=color if filled else "white", mew=1.5)

    for (method, procedure), group in pruned.groupby(["method", "procedure"], sort=False):
        first = group.drop_duplicates("k")
        accuracy_axis.plot(first["k"], (100 * (1 - first["accuracy"])).clip(lower=0.01), marker="o", ms=6,
                           label=f"{method}, {procedure}", **look(procedure, METHOD_COLORS.get(method)))
    for (method, form, procedure), group in pruned.groupby(["method", "form", "procedure"], sort=False):
        color = METHOD_COLORS.get(method) if form != "dense + gzip" else "C2"
        marker = FORM_MARKERS.get(form, "o")
        label = f"{method}, {form}, {procedure}"
        speed_axis.plot(group["k"], group["speedup"], marker=marker, ms=6, label=label, **look(procedure, color))
        size_axis.plot(group["k"], group["smaller"], marker=marker, ms=6, label=label, **look(procedure, color))
        if procedure == "one-shot" and form != "dense + gzip":
            speed_axis.plot(group["k"], group["flop_ratio"], ls=":", color=color, lw=1.2,
                            label=f"{method}, {form}, FLOP ratio")
    speed_axis.axhline(1, color="0.4", lw=1)
    size_axis.axhline(1, color="0.4", lw=1)
    accuracy_axis.set(yscale="log", xlabel="k (%)", ylabel="test error (%), log", title="test error (lower is better)")
    accuracy_axis.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    accuracy_axis.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda e, _: f"{e:g}"))
    accuracy_axis.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    add_accuracy_axis(accuracy_axis)
    speed_axis.set(yscale="log", xlabel="k (%)",
                   ylabel="measured speedup over dense (log)\nreference per form, see table",
                   title="forward pass, whole test set")
    size_axis.set(yscale="log", xlabel="k (%)", ylabel="times smaller than the dense file (log)", title="size on disk")
    for axis in (accuracy_axis, speed_axis, size_axis):
        axis.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    figure.tight_layout()
    return figure


def pipeline(stages: pd.DataFrame, accuracies: pd.DataFrame) -> plt.Figure:
    """Deep Compression step by step: the bytes after each step (left, a dot per step on a log axis, with the
    times-smaller and the bits per kept weight) and the error after each step (right).

    Args:
        stages: `helpers.compression.size_stages` (stage, bytes, bits_per_weight, smaller).
        accuracies: one row per step, in order: step, validation_accuracy, accuracy (test), both 0-1.

    Used in 09_ship_it.
    """
    figure, (left, right) = plt.subplots(1, 2, figsize=(15, 4.8), gridspec_kw=dict(width_ratios=(1.3, 1)))
    y = np.arange(len(stages))[::-1]
    colours = ["0.35"] + ["C0"] * (len(stages) - 1)
    left.hlines(y, stages["bytes"], stages["bytes"].max(), color="0.8", lw=1, zorder=1)  # how far each step came down
    left.scatter(stages["bytes"], y, s=60, color=colours, zorder=3)
    for position, row in zip(y, stages.itertuples()):
        text = (f"{row.bytes:,.0f} B · {row.smaller:.0f}x smaller · {row.bits_per_weight:.1f} bits per kept weight"
                if row.Index else f"{row.bytes:,.0f} B · 32 bits per weight")
        left.annotate(text, (row.bytes, position), xytext=(0, 9), textcoords="offset points", ha="left" if row.Index
                      else "right", va="bottom", fontsize=9)
    left.set_xscale("log")
    low, high = stages["bytes"].min(), stages["bytes"].max()
    left.set_xlim(low / 1.6, high * 1.6)
    left.set_ylim(-0.6, len(stages) - 0.3)
    left.set_yticks(y, [f"{i + 1}. {stage}" for i, stage in enumerate(stages["stage"])])
    left.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_bytes_label))
    left.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    left.grid(axis="y", visible=False)
    left.set(xlabel="bytes (log scale)", title="bytes after each step")
    steps = np.arange(len(accuracies))
    errors = {column: 100 * (1 - accuracies[column].to_numpy()) for column in ("validation_accuracy", "accuracy")}
    for column, label, marker in (("validation_accuracy", "validation", "o"), ("accuracy", "test", "s")):
        right.plot(steps, errors[column], marker=marker, label=label)
        other = errors["accuracy" if column == "validation_accuracy" else "validation_accuracy"]
        for step, error, rival in zip(steps, errors[column], other):
            above = error <= rival  # the better of the two (higher on the axis) is labelled above its point
            right.annotate(f"{100 - error:.2f}", (step, error), xytext=(0, 8 if above else -15),
                           textcoords="offset points", ha="center", fontsize=8, color=right.lines[-1].get_color(),
                           bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.8))
    right.set_yscale("log")
    right.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    right.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    right.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda e, _: f"{e:g}"))
    low, high = min(e.min() for e in errors.values()), max(e.max() for e in errors.values())
    right.set_ylim(high * 1.3, low / 1.3)  # inverted: better up, with room for the labels
    add_accuracy_axis(right)
    right.set_xticks(steps, accuracies["step"], rotation=20, ha="right")
    right.set_xlim(-0.5, len(steps) - 0.5)
    right.set(ylabel="error (%), log, better ↑", title="accuracy after each step")
    right.legend(fontsize=9, loc="lower right")
    figure.tight_layout()
    return figure
