"""The explorer without a kernel: every setting of its k slider computed in advance, as data for the static site.

For weight pruning (layer-wise and global) and unit pruning (layer-wise: `pruning.rank` refuses unit pruning with
a global scope), at every k of `GRID`, the seed's baseline is pruned one-shot and measured exactly as
`sweeps.sweep` does it (it is `sweep` that measures): test accuracy and weights kept, with the units alive
per layer and, per prunable layer, the counts of the kept weights' |w| on fixed log bins. The result is a small
JSON file (`DATA`), written atomically with the commit, seed and checkpoint it came from, and computed again only
when the checkpoint, the code that computes it or the grid changes. `helpers.site` puts it on the site, where
`static_explorer.js` draws it.

Usage: python -m helpers.static_explorer (`make site` runs it through helpers.site).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from helpers import data, model, pruning, sweeps, training
from helpers.config import project_home, series_seed
from helpers.data import load_mnist
from helpers.sweeps import sweep
from helpers.model import linear_layers
from helpers.pruning import prunable_layers, rank

#: The k of the slider: every 2.5 up to 90 (where unit pruning collapses and weight pruning changes nothing),
#: then every 0.5 up to 99.5 (where weight pruning breaks). Every k of `config.K_LIST` is on it.
GRID = tuple([2.5 * i for i in range(37)] + [90 + 0.5 * i for i in range(1, 20)])
#: (method, scope) of each precomputed series; unit pruning has no global scope.
SETTINGS = (("weight", "layer"), ("weight", "global"), ("unit", "layer"))
#: Bins across the decades the trained weights span, as the notebooks' histograms (`plots.WeightHistograms`).
BINS = 60
#: Where the data is cached, outside build/site/ (which `make site` deletes).
DATA = Path("build") / "explorer" / "explorer_data.json"


def log_bins(net: torch.nn.Module) -> tuple[int, int]:
    """(low, high): whole decades 10**low to 10**high spanning the nonzero |w| of the prunable layers."""
    sizes = torch.cat([layer.weight.detach().abs().flatten() for layer in prunable_layers(net).values()])
    sizes = sizes[sizes > 0].double()
    return int(np.floor(np.log10(sizes.min().item()))), int(np.ceil(np.log10(sizes.max().item())))


def bin_index(weights: torch.Tensor, low: int, high: int, bins: int = BINS) -> torch.Tensor:
    """For each entry of `weights`, its bin of log10 |w| among `bins` equal bins from `low` to `high` (clipped into
    the range; the last bin includes `high`, as in `np.histogram`), or -1 for an exact zero.

    Binned once from the trained weights: pruning only zeroes weights, so the histogram of the kept ones at any k
    is a count of these indices under the mask.

    >>> bin_index(torch.tensor([0.0, 1e-3, -1e-3, 0.5, 1e-9]), -4, 0, bins=4).tolist()
    [-1, 1, 1, 3, 0]
    """
    values = weights.detach().flatten().double().cpu().numpy()
    edges = np.linspace(low, high, bins + 1)
    with np.errstate(divide="ignore"):
        logs = np.clip(np.log10(np.abs(values)), low, high)
    index = np.minimum(np.searchsorted(edges, logs, side="right") - 1, bins - 1)
    return torch.from_numpy(np.where(values == 0, -1, index)).view(weights.shape)


def cache_key(checkpoint: Path) -> dict:
    """What the data depends on: the checkpoint's bytes, the source of the code that computes it, torch, the grid."""
    code = "".join(inspect.getsource(part) for part in (data, model, pruning, training, sweeps, log_bins, bin_index, compute))
    code = hashlib.sha256(code.encode()).hexdigest()
    return dict(checkpoint=hashlib.sha256(checkpoint.read_bytes()).hexdigest(), code=code,
                torch=torch.__version__, grid=list(GRID), bins=BINS)


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


@torch.no_grad()
def compute(net: torch.nn.Module, test: data.Split, ks=GRID) -> dict:
    """Every setting of `SETTINGS` at every k of `ks`, as the JSON-ready dict that `write` saves (without its key)."""
    low, high = log_bins(net)
    layers = prunable_layers(net)
    settings = {}
    index = {name: bin_index(layer.weight, low, high) for name, layer in layers.items()}
    unpruned = [int(layer.weight.any(dim=1).sum()) for _, layer in linear_layers(net)][len(layers):]  # the output
    for method, scope in SETTINGS:
        table = sweep(net, test, ks, [method], scope=scope)
        ranking = rank(net, method, scope)
        alive, histograms, zeros = [], [], []
        for k in ks:
            masks = ranking.masks(k)
            kept = {name: masks[name] & (index[name] >= 0) for name in layers}  # kept and not exactly zero
            alive.append([int(kept[name].any(dim=1).sum()) for name in layers] + unpruned)
            histograms.append([torch.bincount(index[name][kept[name]], minlength=BINS).tolist() for name in layers])
            zeros.append([int((~kept[name]).sum()) for name in layers])
        settings[f"{method}/{scope}"] = dict(method=method, scope=scope, accuracy=table["accuracy"].tolist(),
                                             weights_kept=table["weights_kept"].astype(int).tolist(),
                                             units_alive=alive, histograms=histograms, zeros=zeros)
    return dict(k=list(ks), test_images=len(test), total_weights=pruning.flops(net),
                layers=[dict(name=name, shape=list(layer.weight.shape)) for name, layer in layers.items()],
                all_layers=[dict(name=name, units=layer.weight.shape[0]) for name, layer in linear_layers(net)],
                bins=dict(log10_low=low, log10_high=high, count=BINS), settings=settings)


def write(path: Path | None = None, seed: int | None = None, force: bool = False) -> tuple[Path, bool]:
    """Compute the data of the seed's baseline into `path` (default `DATA`), unless it is there and current.

    Returns:
        (path, computed): computed is False when the cached file was current.
    """
    seed = series_seed() if seed is None else seed
    path = path or project_home() / DATA
    checkpoint = training.baseline_path(seed)
    if not checkpoint.exists():
        training.baseline(seed=seed, progress=False)  # trained and cached first (minutes)
    key = dict(seed=seed, **cache_key(checkpoint))
    if path.exists() and not force:
        try:
            if json.loads(path.read_text())["key"] == key:
                return path, False
        except (ValueError, KeyError):
            pass  # unreadable or of an older format: computed again
    print(f"the explorer's data for the site: {len(GRID)} k x {len(SETTINGS)} settings of seed {seed}, each one "
          "evaluation of the test set (a minute or two on 2 cores, then cached)", file=sys.stderr)
    net, _ = training.baseline(seed=seed, progress=False, device=torch.device("cpu"))
    _, _, test = load_mnist()
    result = dict(seed=seed, commit=_commit(), key=key, **compute(net, test))
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as file:
        json.dump(result, file, separators=(",", ":"))
    os.replace(file.name, path)  # atomic: a reader sees the old file or the new one, never half of one
    return path, True


PAGE = """<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>
<meta name='viewport' content='width=device-width, initial-scale=1'><title>The explorer, without a kernel</title>
<link rel='icon' href='data:,'>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 72em; margin: 1em auto; padding: 0 1em; line-height: 1.45 }}
.pm-controls {{ display: flex; flex-wrap: wrap; gap: 0.6em 2em; align-items: center; margin: 1em 0 }}
#pm-k-slider {{ width: 28em }} #pm-k-input {{ width: 5em }}
.pm-top {{ display: flex; flex-wrap: wrap; gap: 1em 2em; align-items: flex-start }}
#pm-curve {{ width: 520px; max-width: 100%; font-size: 11px }}
#pm-histograms {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 0.5em; font-size: 10px }}
.grid {{ stroke: #e4e4e4 }} .series {{ fill: none; stroke: #bbb; stroke-width: 1.2 }}
.series.s-weight.current {{ stroke: #1f77b4; stroke-width: 2.5 }} .series.s-unit.current {{ stroke: #d62728; stroke-width: 2.5 }}
.marker {{ fill: none; stroke: #111; stroke-width: 2.5 }}
.kept {{ fill: #1f77b4; opacity: 0.85 }} .trained {{ fill: none; stroke: #555; stroke-width: 1 }}
.title {{ font-size: 11px; font-weight: 600 }}
.pm-readout {{ font-size: 15px; min-width: 24em }} .pm-note {{ color: #555; font-size: 0.9em }}
</style></head><body>
<nav class='pm-nav'><a href='index.html'>all notebooks</a> · <a href='02_weight_pruning.html'>02 weight pruning</a> ·
<a href='03_unit_pruning.html'>03 unit pruning</a></nav>
<h1>The explorer, without a kernel</h1>
<p>Drag k: the seed-{seed} network of the series is pruned one-shot, with no retraining, and measured on the test
set. Every setting was computed in advance by <code>make site</code> (<code>helpers/static_explorer.py</code>), exactly
as <code>sweeps.sweep</code> measures it, so the page answers at once and needs no Python.</p>
<div class='pm-controls'>
<label>k (%) <input type='range' id='pm-k-slider' min='0' step='1' aria-label='k, the share pruned'></label>
<label>type k <input type='number' id='pm-k-input' min='0' max='100' step='0.5'></label>
<span>method <label><input type='radio' name='method' value='weight' checked> weight</label>
<label><input type='radio' name='method' value='unit'> unit</label></span>
<span>scope <label><input type='radio' name='scope' value='layer' checked> layer-wise</label>
<label><input type='radio' name='scope' value='global' id='pm-scope-global'> global (weights only)</label></span>
</div>
<div class='pm-top'>
<svg id='pm-curve' viewBox='0 0 520 260' role='img' aria-label='test accuracy against k'></svg>
<div class='pm-readout'><b class='pm-setting'></b><br>
test accuracy <b class='pm-accuracy'></b>% (<span class='pm-delta'></span> points against the unpruned network)<br>
weights kept (dead units dropped) <b class='pm-kept'></b> of {total:,}: compression <b class='pm-compression'></b>x<br>
units alive per layer: <span class='pm-units'></span>
<p class='pm-note'>The curve: weight pruning in blue, unit pruning in red (the grey lines are the other settings).
The grid: k every 2.5 up to 90, then every 0.5 up to 99.5; a typed k goes to the nearest one.
Histograms: the kept weights (blue) over the trained ones (outline), |w| on a log axis, weights per bin on a log axis.
What still needs a kernel: other criteria, repair, fine-tuning, a k per layer, the digits that change; run the
notebooks (Colab, Binder, <code>make lab</code>) or <code>make explorer</code>.</p>
<p class='pm-note'>Data: <span class='pm-source'></span>.</p></div>
</div>
<div id='pm-histograms'></div>
<script src='explorer_data.js'></script>
<script src='static_explorer.js'></script>
</body></html>
"""


def add_to_site(out: Path, path: Path | None = None) -> Path:
    """Write explorer.html, its script and its data (as a script, so the page works from file:// too) into `out`."""
    path, _ = (path, False) if path is not None else write()
    data = json.loads(path.read_text())
    (out / "explorer_data.js").write_text(f"window.EXPLORER_DATA = {path.read_text()};\n", encoding="utf-8")
    shutil.copy(Path(__file__).with_suffix(".js"), out / "static_explorer.js")
    page = out / "explorer.html"
    page.write_text(PAGE.format(seed=data["seed"], total=data["total_weights"]), encoding="utf-8")
    return page


def main() -> None:
    started = time.perf_counter()
    path, computed = write(force="--force" in sys.argv)
    print(f"{'computed' if computed else 'cached (current)'}: {path} ({path.stat().st_size / 1e3:.0f} kB) "
          f"in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
