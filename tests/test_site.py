"""The static site (`make site`, helpers.site) in headless Chromium: every page loads with no JavaScript error,
every image loads, the explorer's picture shows instead of a text fallback (with a link to explorer.html, the
explorer without a kernel, as from the index), and no request leaves 127.0.0.1.

Runs in `make test` after the notebooks were executed into build/executed/ and the site was built from them.
Screenshots go to build/screenshots/.
"""

from __future__ import annotations

import functools
import http.server
import threading

import nbformat
import pytest

from helpers.config import project_home
from helpers.run import EXECUTED
from helpers.site import SITE
from conftest import ARGS, CHROMIUM, only_local  # tests/ is on sys.path under pytest

FALLBACKS = ("VBox(children=", "HBox(children=", "IntSlider(value=", "Error displaying widget", "Loading widget",
             "| 0/")  # a progress bar that finished must not read as one that never started ("0%| 0/860")


@pytest.fixture
def site():
    """An HTTP server on 127.0.0.1 serving build/site/; yields its URL and the pages."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install it (Debian: apt-get install chromium) to run the browser test")
    pytest.importorskip("playwright.sync_api", reason="the Python package playwright is not installed")
    root = project_home() / SITE
    pages = sorted(p.name for p in root.glob("*.html"))
    assert pages, f"no site in {root}: run `make site` (after `make test` or `make run` executed the notebooks)"
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", pages
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.browser
def test_every_page_of_the_site_shows_everything_offline(site, tmp_path):
    from playwright.sync_api import sync_playwright

    url, pages = site
    shots = project_home() / "build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    outside, errors, failed = [], [], []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", only_local(outside))
            page = context.new_page()
            page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
            page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
            page.on("requestfailed", lambda request: failed.append(request.url) if request.url.startswith("http") else None)
            assert "index.html" in pages and any(p.startswith("09_") for p in pages)
            for name in pages:
                page.goto(f"{url}/{name}", wait_until="load")
                page.wait_for_load_state("networkidle")
                broken = page.evaluate("() => Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                                       ".map(i => i.alt || i.src.slice(0, 60))")
                assert not broken, f"{name}: images that did not load: {broken}"
                text = page.inner_text("body")
                for fallback in FALLBACKS:
                    assert fallback not in text, f"{name}: a widget shows as text: {fallback!r}"
                if name == "explorer.html":  # no notebook behind it: tests/test_static_explorer.py drives it
                    assert page.locator("nav.pm-nav a[href='index.html']").count() == 1
                    continue
                if name != "index.html":
                    assert page.locator("nav.pm-nav a[href='index.html']").count() == 2, f"{name}: no navigation"
                    executed = nbformat.read(project_home() / EXECUTED / name.replace(".html", ".ipynb"), as_version=4)
                    figures = sum("image/png" in output.get("data", {}) for cell in executed.cells
                                  for output in cell.get("outputs", []))
                    assert page.locator("img").count() >= figures, f"{name}: fewer images than the notebook's {figures} figures"
                if name.startswith(("02_", "03_")):  # the explorer, drawn from its saved state
                    explorer = page.locator(".pm-explorer").first
                    for css in ("pm-histograms", "pm-pixels", "pm-digits", "pm-curve"):
                        assert explorer.locator(f"img.{css}").count() == 1, f"{name}: the explorer lacks {css}"
                    assert "test accuracy" in explorer.locator(".pm-readout").inner_text()
                    assert "k (%)" in explorer.locator(".pm-k").inner_text()
                    assert page.locator(".pm-static-explorer-link a[href='explorer.html']").count() >= 1
                    explorer.screenshot(path=str(shots / f"site_{name[:2]}_explorer.png"))
                notebook = project_home() / EXECUTED / name.replace(".html", ".ipynb")
                if name != "index.html" and "$$" in notebook.read_text():  # math typeset by the site's own MathJax
                    page.wait_for_function("() => document.querySelectorAll('.MathJax_CHTML, .MathJax, .MathJax_Display, mjx-container').length > 0",
                                           timeout=30_000)
            page.goto(f"{url}/index.html")
            links = page.eval_on_selector_all("ol a", "links => links.map(a => a.getAttribute('href'))")
            assert links == [p for p in pages if p not in ("index.html", "explorer.html")]
            assert page.locator(".pm-static-explorer-link a[href='explorer.html']").count() == 1
            page.screenshot(path=str(shots / "site_index.png"), full_page=True)
        finally:
            browser.close()
    assert not outside, f"requests left 127.0.0.1: {outside[:5]}"
    assert not failed, f"requests failed: {failed[:5]}"
    assert not errors, f"JavaScript errors: {errors[:5]}"


def test_static_widgets_draw_the_saved_state_of_each_kind_of_widget():
    """Without a browser: the preprocessor turns a saved widget state into HTML that shows that state."""
    import nbformat

    from helpers.site import LIVE_NOTE, StaticWidgets

    def model(name, **state):
        return {"model_name": name, "state": {"_model_name": name, "_dom_classes": [f"c-{name}"], **state}}

    state = {
        "box": model("VBoxModel", children=["IPY_MODEL_slider", "IPY_MODEL_buttons", "IPY_MODEL_pin", "IPY_MODEL_html",
                                            "IPY_MODEL_image", "IPY_MODEL_bar"]),
        "slider": model("IntSliderModel", description="k (%)", value=95, min=0, max=99),
        "buttons": model("ToggleButtonsModel", description="method", _options_labels=["weight", "unit"], index=1),
        "pin": model("ToggleButtonModel", description="unpin", value=True),
        "html": model("HTMLModel", value="<i>readout</i>"),
        "image": {**model("ImageModel", format="png", width="120"),
                  "buffers": [{"path": ["value"], "encoding": "base64", "data": "iVBORw0KGgo="}]},
        "bar": model("FloatProgressModel", value=3.0, max=4.0),
        "tqdm": model("HBoxModel", children=["IPY_MODEL_bar"]),
    }
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": state}}
    view = {"model_id": "box", "version_major": 2, "version_minor": 0}
    cells = [nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output(
        "display_data", data={"application/vnd.jupyter.widget-view+json": {**view, "model_id": m}, "text/plain": "VBox(children=...)"})])
        for m in ("box", "tqdm", "missing")]
    notebook.cells = cells
    processed, _ = StaticWidgets().preprocess(notebook, {})
    html = processed.cells[0].outputs[0]["data"]["text/html"]
    assert "k (%)</span> <b>95</b>" in html and "weight · <b class='pm-chosen'>unit</b>" in html
    assert "<b>[unpin]</b>" in html and "<i>readout</i>" in html
    assert "src='data:image/png;base64,iVBORw0KGgo='" in html and "width='120'" in html
    assert "<progress class='c-FloatProgressModel' value='3.0' max='4.0'>" in html and LIVE_NOTE in html
    tqdm = processed.cells[1].outputs[0]["data"]
    assert "<progress" in tqdm["text/html"] and LIVE_NOTE not in tqdm["text/html"]  # no control: no note
    assert processed.cells[2].outputs == []  # no saved state: closed by the kernel, shown as nothing (not "0%| 0/860")
    assert all("application/vnd.jupyter.widget-view+json" not in c.outputs[0]["data"] for c in processed.cells[:2])
    assert "widgets" not in processed.metadata
