"""The explorer without a kernel (helpers.static_explorer and explorer.html on the site).

Without a browser: on a small network, the precomputed data equals what `experiments.sweep` measures, the
histograms equal counts made here, the units alive equal `pruning.sparsity`; the file is written atomically,
cached, and computed again when the checkpoint changes; the page asks for nothing outside the site.
In headless Chromium (marked `browser`, after `make site`): the data file of the real baseline against
`sweep()`, then explorer.html driven by dragging and typing k and switching method and scope; the readout equals
`sweep()`, the histograms change, no console error, no request leaves 127.0.0.1; the slider's input-to-next-frame
time is measured and printed (and written to build/screenshots/static_explorer_timing.json).
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import statistics
import threading

import numpy as np
import pytest
import torch

from helpers import static_explorer
from helpers.config import project_home, series_seed
from helpers.data import Split
from helpers.experiments import sweep
from helpers.model import make_mlp
from helpers.pruning import prune, rank, sparsity

KS = (0, 25, 50, 90, 97.5, 99.5)


@pytest.fixture(scope="module")
def small():
    """A small random network, a synthetic test split, and the data computed from them."""
    torch.manual_seed(0)
    net = make_mlp((40, 30, 20, 12)).eval()
    test = Split(torch.randn(300, 784), torch.randint(0, 10, (300,)))
    return net, test, static_explorer.compute(net, test, KS)


@pytest.mark.parametrize("method, scope", static_explorer.SETTINGS)
def test_the_data_is_what_sweep_measures(small, method, scope):
    net, test, data = small
    expected = sweep(net, test, KS, [method], scope=scope)
    series = data["settings"][f"{method}/{scope}"]
    assert series["accuracy"] == expected["accuracy"].tolist()  # exactly, not approximately
    assert series["weights_kept"] == expected["weights_kept"].tolist()
    for i, k in enumerate(KS):
        assert series["units_alive"][i] == sparsity(prune(net, k, method, scope))["alive"].tolist()[:-1]


def test_histograms_count_the_kept_weights_on_fixed_log_bins(small):
    net, _, data = small
    low, high, count = data["bins"]["log10_low"], data["bins"]["log10_high"], data["bins"]["count"]
    assert count == static_explorer.BINS and low < high
    sizes = torch.cat([p.detach().abs().flatten() for p in list(net.parameters())[:-1]])
    assert 10.0**low <= sizes.min() and sizes.max() <= 10.0**high
    assert [layer["shape"] for layer in data["layers"]] == [[40, 784], [30, 40], [20, 30], [12, 20]]
    series = data["settings"]["weight/global"]
    for i, k in enumerate(KS):
        pruned = prune(net, k, "weight", "global")
        for j, layer in enumerate(list(pruned.children())[:-1:2]):
            weights = layer.weight.detach().double().numpy().ravel()
            kept = weights[weights != 0]
            counts = np.histogram(np.log10(np.abs(kept)), bins=np.linspace(low, high, count + 1))[0]
            assert series["histograms"][i][j] == counts.tolist()
            assert series["zeros"][i][j] == weights.size - kept.size
    assert series["zeros"][0] == [0, 0, 0, 0]
    unit = data["settings"]["unit/layer"]
    assert unit["histograms"][-1] != unit["histograms"][0]  # the histograms change with k
    assert data["k"] == list(KS) and data["test_images"] == 300 and data["total_weights"] == sum(
        p.numel() for p in net.parameters())


def test_unit_pruning_has_no_global_scope(small):
    assert ("unit", "global") not in static_explorer.SETTINGS
    with pytest.raises(ValueError, match="unit pruning is layer-wise only"):
        rank(small[0], "unit", "global")  # and sweep() prunes units layer-wise whatever its scope
    assert all(k in static_explorer.GRID for k in (0, 25, 50, 60, 70, 80, 90, 95, 97, 99))  # K_LIST is on the grid
    assert list(static_explorer.GRID) == sorted(set(static_explorer.GRID)) and max(static_explorer.GRID) == 99.5


def test_write_caches_the_data_and_computes_it_again_when_the_checkpoint_changes(small, tmp_path, monkeypatch):
    net, test, _ = small
    checkpoint = tmp_path / "baseline.pt"
    checkpoint.write_bytes(b"first")
    calls = []
    monkeypatch.setattr(static_explorer.training, "baseline_path", lambda seed: checkpoint)
    monkeypatch.setattr(static_explorer.training, "baseline", lambda **kwargs: (net, {}))
    monkeypatch.setattr(static_explorer, "load_mnist", lambda: (None, None, test))
    monkeypatch.setattr(static_explorer, "GRID", (0, 50, 99.5))
    real_compute = static_explorer.compute
    monkeypatch.setattr(static_explorer, "compute",
                        lambda n, t: calls.append(1) or real_compute(n, t, static_explorer.GRID))
    path = tmp_path / "out" / "data.json"
    assert static_explorer.write(path, seed=3) == (path, True)
    written = json.loads(path.read_text())
    assert written["seed"] == 3 and re.fullmatch(r"[0-9a-f]{40}|unknown", written["commit"])
    assert written["k"] == [0, 50, 99.5] and written["key"]["checkpoint"] == static_explorer.cache_key(checkpoint)["checkpoint"]
    assert static_explorer.write(path, seed=3) == (path, False) and len(calls) == 1  # cached
    checkpoint.write_bytes(b"retrained")
    assert static_explorer.write(path, seed=3) == (path, True) and len(calls) == 2
    assert static_explorer.write(path, seed=4) == (path, True) and len(calls) == 3  # another seed
    assert [p.name for p in path.parent.iterdir()] == ["data.json"]  # no temporary file left


def test_the_page_loads_only_its_own_files(small, tmp_path):
    net, test, data = small
    path = tmp_path / "data.json"
    path.write_text(json.dumps(dict(seed=0, commit="abc", key={}, **data)))
    page = static_explorer.add_to_site(tmp_path, path).read_text()
    sources = re.findall(r"(?:src|href)='([^']+)'", page)
    assert sources == ["data:,", "index.html", "02_weight_pruning.html", "03_unit_pruning.html", "explorer_data.js",
                       "static_explorer.js"]
    assert all((tmp_path / source).exists() for source in sources if source.endswith(".js"))
    script = (tmp_path / "explorer_data.js").read_text()
    assert script.startswith("window.EXPLORER_DATA = ") and json.loads(script[23:].rstrip().rstrip(";")) == json.loads(path.read_text())
    assert "http" not in (tmp_path / "static_explorer.js").read_text().replace("http://www.w3.org/2000/svg", "")


# --- the real data and page: after `make site` ---

def _real(method: str, scope: str, k: float) -> tuple[float, int]:
    """(accuracy, weights kept) of the series' baseline at that setting, by `sweep()` here."""
    from helpers.data import load_mnist
    from helpers.training import baseline
    net, _ = baseline(seed=series_seed(), progress=False, device=torch.device("cpu"))
    row = sweep(net, load_mnist()[2], [k], [method], scope=scope).iloc[0]
    return float(row["accuracy"]), int(row["weights_kept"])


@pytest.fixture(scope="module")
def real_data():
    path = project_home() / static_explorer.DATA
    if not path.exists():
        pytest.skip(f"no {path}: run `make site` first")
    return path, json.loads(path.read_text())


@pytest.mark.browser
def test_the_data_file_of_the_baseline_equals_sweep(real_data):
    path, data = real_data
    assert path.stat().st_size <= 1_000_000 and data["seed"] == series_seed()
    assert data["k"] == list(static_explorer.GRID) and data["test_images"] == 10_000
    assert [layer["shape"] for layer in data["layers"]] == [[1000, 784], [1000, 1000], [500, 1000], [200, 500]]
    for method, scope, k in (("weight", "layer", 97), ("weight", "global", 99.5), ("unit", "layer", 70)):
        series, i = data["settings"][f"{method}/{scope}"], data["k"].index(k)
        assert (series["accuracy"][i], series["weights_kept"][i]) == _real(method, scope, k)
        sizes = [a * b for a, b in (layer["shape"] for layer in data["layers"])]
        assert [sum(c) + z for c, z in zip(series["histograms"][i], series["zeros"][i])] == sizes


@pytest.fixture
def site():
    """An HTTP server on 127.0.0.1 serving build/site/; yields its URL."""
    from conftest import CHROMIUM  # tests/ is on sys.path under pytest
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install it (Debian: apt-get install chromium) to run the browser test")
    pytest.importorskip("playwright.sync_api", reason="the Python package playwright is not installed")
    from test_site import _QuietHandler
    root = project_home() / "build" / "site"
    assert (root / "explorer.html").exists(), f"no {root / 'explorer.html'}: run `make site`"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


#: In the page: time from each slider input event to the next frame (after it was painted), in ms.
FRAME_TIMER = """() => { window.frameTimes = [];
  document.querySelector('#pm-k-slider').addEventListener('input', (event) => {
    const start = event.timeStamp;
    requestAnimationFrame(() => setTimeout(() => window.frameTimes.push(performance.now() - start), 0));
  }); }"""


@pytest.mark.browser
def test_the_static_explorer_answers_the_slider_in_the_browser(site, real_data):
    from playwright.sync_api import sync_playwright
    from conftest import ARGS, CHROMIUM, only_local

    _, data = real_data
    outside, errors = [], []
    shots = project_home() / "build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)

    def readout(page) -> tuple[float, float, int]:
        k = float(page.input_value("#pm-k-input"))
        return (k, float(page.get_attribute(".pm-accuracy", "data-value")),
                int(page.get_attribute(".pm-kept", "data-value")))

    def bars(page) -> list[str]:
        return page.eval_on_selector_all(".pm-histogram rect.kept", "rects => rects.map(r => r.getAttribute('height'))")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            context.route("**/*", only_local(outside))
            page = context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{site}/index.html")
            page.click("a[href='explorer.html']")  # linked from the index
            page.wait_for_selector(".pm-histogram rect.kept", state="attached")
            assert page.locator(".pm-histogram").count() == 4
            assert readout(page)[0] == 90 and "weight pruning, layer-wise" in page.inner_text(".pm-setting")

            page.fill("#pm-k-input", "97")  # type k
            page.press("#pm-k-input", "Enter")
            assert readout(page) == (97, *_real("weight", "layer", 97))
            typed = bars(page)

            slider = page.locator("#pm-k-slider").bounding_box()  # drag k to the far left, then a third of the way
            middle = slider["y"] + slider["height"] / 2
            page.mouse.move(slider["x"] + slider["width"] * 0.999, middle)
            page.mouse.down()
            page.mouse.move(slider["x"] + 1, middle, steps=8)
            assert readout(page)[0] == 0
            page.mouse.move(slider["x"] + slider["width"] / 3, middle, steps=4)
            page.mouse.up()
            k = readout(page)[0]
            assert 0 < k < 90 and k in data["k"]
            assert readout(page) == (k, *_real("weight", "layer", k)) and bars(page) != typed

            page.check("input[name=method][value=unit]")  # switch method: the same k, unit pruning
            assert readout(page) == (k, *_real("unit", "layer", k)) and page.is_disabled("#pm-scope-global")
            page.fill("#pm-k-input", "99.2")  # a k off the grid goes to the nearest one
            page.press("#pm-k-input", "Enter")
            assert readout(page) == (99, *_real("unit", "layer", 99))
            unit = bars(page)
            page.check("input[name=method][value=weight]")  # switch scope: weights ranked globally
            page.check("input[name=scope][value=global]")
            assert readout(page) == (99, *_real("weight", "global", 99)) and "global" in page.inner_text(".pm-setting")
            assert bars(page) != unit
            page.screenshot(path=str(shots / "site_static_explorer.png"), full_page=True)

            page.evaluate(FRAME_TIMER)  # input to next frame, over a drag of 20 moves
            page.mouse.move(slider["x"] + 2, middle)
            page.mouse.down()
            for step in range(1, 21):
                page.mouse.move(slider["x"] + slider["width"] * step / 21, middle)
                page.wait_for_timeout(60)
            page.mouse.up()
            page.wait_for_timeout(200)
            times = page.evaluate("window.frameTimes")
        finally:
            browser.close()
    assert len(times) >= 10, f"the slider's drag gave {len(times)} input events"
    median = statistics.median(times)
    print(f"\nstatic explorer: slider input to next frame, median {median:.1f} ms over {len(times)} moves "
          f"(max {max(times):.1f} ms)")
    (shots / "static_explorer_timing.json").write_text(json.dumps(dict(median_ms=median, moves=len(times),
                                                                         times_ms=times)))
    assert not outside, f"requests left 127.0.0.1: {outside[:5]}"
    assert not errors, f"JavaScript errors: {errors[:5]}"


#: The README's animation: a drag from k = 0 to 99.5, weight pruning then unit pruning, under this size.
ANIMATION_BYTES = 2_000_000


@pytest.mark.browser
def test_record_the_animation_of_the_static_explorer(site, real_data):
    """Frames of explorer.html as k goes from 0 to 99.5, weight then unit pruning, as an animated GIF in
    build/screenshots/static_explorer.gif (the README's copy is docs/static_explorer.gif, made by this test)."""
    from PIL import Image
    from playwright.sync_api import sync_playwright
    from conftest import ARGS, CHROMIUM, only_local

    _, data = real_data
    outside, frames = [], []
    ks = [i for i, k in enumerate(data["k"]) if k % 10 == 0 or k >= 90]  # every 10 up to 90, then every 0.5
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.route("**/*", only_local(outside))
            page.goto(f"{site}/explorer.html")
            page.wait_for_selector(".pm-histogram rect.kept", state="attached")
            page.add_style_tag(content="h1, body > p, .pm-note { display: none } body { margin-top: 0 }")
            for method in ("weight", "unit"):
                page.check(f"input[name=method][value={method}]")
                for i in ks:
                    page.evaluate("(i) => { const s = document.querySelector('#pm-k-slider'); s.value = i;"
                                  " s.dispatchEvent(new Event('input')); }", i)
                    shot = page.screenshot(clip={"x": 0, "y": 0, "width": 1100, "height": 680}, animations="disabled")
                    frames.append(Image.open(__import__("io").BytesIO(shot)).convert("RGB").resize((770, 476)))
        finally:
            browser.close()
    assert not outside
    path = project_home() / "build" / "screenshots" / "static_explorer.gif"
    path.parent.mkdir(parents=True, exist_ok=True)
    both = Image.new("RGB", (2 * frames[0].width, frames[0].height))  # one palette for all: no flicker
    both.paste(frames[len(ks) - 1], (0, 0))
    both.paste(frames[-1], (frames[0].width, 0))
    palette = both.quantize(colors=128)
    durations = [1200 if i in (0, len(ks) - 1) else 260 for i in range(len(ks))] * 2
    frames = [frame.quantize(palette=palette, dither=Image.Dither.NONE) for frame in frames]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0, optimize=True)
    assert path.stat().st_size < ANIMATION_BYTES, f"{path}: {path.stat().st_size:,} bytes"
    print(f"\nstatic explorer animation: {path} ({path.stat().st_size / 1e3:.0f} kB, {len(frames)} frames)")
