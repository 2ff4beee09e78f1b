"""`make site`: the executed series as a static website in build/site/, readable with nothing but a browser.

One page per executed notebook (build/executed/, written by `make test` or `make run`), made by nbconvert's
HTML exporter, and an index page made from the README's front matter, with the results figure and a link
to every page. Every page works offline and asks nothing of any other host:

- **widgets** (the explorer, tqdm's progress bars) are drawn from the widget state the execution saved in
  the notebook (`StaticWidgets`): boxes, HTML, images, progress bars, sliders and buttons become plain HTML
  showing the state they were left in, with the widgets' CSS classes (`pm-k`, `pm-histograms`, ...) kept,
  and one line saying where the live version runs. No widget JavaScript is loaded;
- **math** is typeset by a copy of MathJax 2 (from the `jupyter-server-mathjax` package) inside the site;
- **badges** (Colab, Binder) become text links: their images would be fetched from the badge hosts;
- links between notebooks point to their pages, and each page has links to the previous and next ones;
- **explorer.html** drags k without a kernel, from data computed in advance (`helpers.static_explorer`), linked
  from the index and from under the explorer's picture on the pages of 02 and 03.

Usage: python -m helpers.site (after the notebooks have been executed into build/executed/).
"""

from __future__ import annotations

import base64
import html
import re
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbconvert.preprocessors import Preprocessor

from helpers import static_explorer
from helpers.config import project_home
from helpers.run import EXECUTED

SITE = Path("build") / "site"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
#: Said once under every static picture of a widget.
LIVE_NOTE = ("A picture of the controls as the run left them. To drag them, run the notebook: in Colab, on Binder "
             "or locally (<code>make lab</code>).")
BADGE = re.compile(r'<a href="(?P<href>[^"]+)"[^>]*>\s*<img[^>]*alt="(?P<alt>Open In Colab|Binder)"[^>]*/?>\s*</a>')
NOTEBOOK_LINK = re.compile(r'href="(?P<name>\d\d_[A-Za-z0-9_]+)\.ipynb"')
#: The site's MathJax has the STIX-Web fonts only (those Jupyter ships): say so before MathJax loads.
#: Its blank fallback font, url('about:blank'), is refused by Chromium (a console error): a local() name instead.
MATHJAX_FONTS = ('<script>window.MathJax = {"HTML-CSS": {availableFonts: ["STIX-Web"], preferredFont: "STIX-Web", '
                 'webFont: "STIX-Web", imageFont: null, styles: {"@font-face": {"font-family": "MathJax_Blank", '
                 'src: "local(\'MathJax_Blank\')"}}}};</script>\n')
#: Under the explorer's picture on the pages of 02 and 03: the page where k can be dragged without a kernel.
STATIC_EXPLORER_LINK = ("<p class='pm-static-explorer-link'><a href='explorer.html'>Drag k here, in the browser: the "
                        "explorer without a kernel</a> (weight and unit pruning, every setting precomputed).</p>")
EXTERNAL_SCRIPT = re.compile(r'<script[^>]+src="https?://[^"]+"[^>]*>\s*</script>\s*')


def _style(layout: Mapping | None) -> str:
    """The CSS of an ipywidgets Layout's state (only the properties it sets)."""
    if not layout:
        return ""
    names = {"max_width": "max-width", "flex_flow": "flex-flow", "align_items": "align-items",
             "grid_gap": "gap", "width": "width", "display": "display", "margin": "margin"}
    return "; ".join(f"{css}: {layout[key]}" for key, css in names.items() if layout.get(key))


class StaticWidgets(Preprocessor):
    """Replace every widget view in a notebook by static HTML drawn from the widget state saved with it.

    An output showing a widget carries only a reference (model id) and a text fallback such as
    "VBox(children=...)"; the widget itself lives in the notebook's metadata, as the state the execution left
    it in. This preprocessor draws that state: boxes as flex boxes, HTML as it is, labels as text, images as
    inline PNGs at their width, progress bars as <progress>, sliders as "description: value", toggle buttons
    as their options with the chosen one marked. A widget with no saved state was closed by the kernel (a
    progress bar that finished with `leave=False`): JupyterLab shows nothing for it, and neither does the site
    (its text fallback would read "0%| 0/860", as if nothing ran).
    """

    def preprocess(self, nb, resources):
        saved = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
        self.models = dict(saved)
        nb, resources = super().preprocess(nb, resources)
        nb.metadata.pop("widgets", None)  # nothing left refers to it
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        if "outputs" in cell:
            cell.outputs = [output for output in cell.outputs if WIDGET_VIEW not in output.get("data", {})
                            or output["data"][WIDGET_VIEW]["model_id"] in self.models]
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data:
                model_id = data.pop(WIDGET_VIEW)["model_id"]
                if model_id in self.models:
                    data.pop("text/plain", None)
                    interactive = self._has_controls(model_id)
                    note = f"<p class='pm-live-note'><em>{LIVE_NOTE}</em></p>" if interactive else ""
                    if "pm-explorer" in self._state(model_id).get("_dom_classes", []):
                        note += STATIC_EXPLORER_LINK
                    data["text/html"] = f"<div class='pm-static-widget'>{self.draw(model_id)}{note}</div>"
        return cell, resources

    def _state(self, model_id: str) -> dict:
        return self.models.get(model_id.replace("IPY_MODEL_", ""), {}).get("state", {})

    def _has_controls(self, model_id: str) -> bool:
        state = self._state(model_id)
        if state.get("_model_name") in ("IntSliderModel", "FloatSliderModel", "ToggleButtonsModel", "DropdownModel",
                                        "ButtonModel", "ToggleButtonModel", "CheckboxModel"):
            return True
        return any(self._has_controls(child) for child in state.get("children", []))

    def draw(self, model_id: str) -> str:
        """The static HTML of one widget (and its children)."""
        model = self.models.get(model_id.replace("IPY_MODEL_", ""))
        if model is None:
            return ""
        state = model["state"]
        name = state.get("_model_name", "")
        classes = " ".join(state.get("_dom_classes", []))
        layout = self._state(state.get("layout", "")) if state.get("layout") else {}
        style = _style(layout)
        description = html.escape(state.get("description", "") or "")
        label = f"<span class='pm-description'>{description}</span> " if description else ""
        if name in ("VBoxModel", "HBoxModel", "BoxModel"):
            direction = "row" if name == "HBoxModel" else "column"
            inner = "".join(self.draw(child) for child in state.get("children", []))
            return (f"<div class='{classes}' style='display: flex; flex-direction: {direction}; flex-wrap: wrap; "
                    f"gap: 4px 16px; {style}'>{inner}</div>")
        if name == "HTMLModel":
            return "" if layout.get("display") == "none" else f"<div class='{classes}' style='{style}'>{state.get('value', '')}</div>"
        if name == "LabelModel":
            return f"<span class='{classes}'>{html.escape(state.get('value', ''))}</span>"
        if name == "ImageModel":
            buffer = next((b for b in model.get("buffers", []) if b.get("path") == ["value"]), None)
            if buffer is None:
                return ""
            data = buffer["data"] if buffer.get("encoding") == "base64" else base64.b64encode(buffer["data"]).decode()
            width = f" width='{state['width']}'" if state.get("width") else ""
            return (f"<img class='{classes}' src='data:image/{state.get('format', 'png')};base64,{data}'{width} "
                    f"style='max-width: 100%; height: auto' alt='{classes or 'widget image'}'>")
        if name in ("FloatProgressModel", "IntProgressModel"):
            return f"<progress class='{classes}' value='{state.get('value', 0)}' max='{state.get('max', 100)}'></progress>"
        if name in ("IntSliderModel", "FloatSliderModel"):
            return (f"<div class='{classes}'>{label}<b>{state.get('value')}</b> "
                    f"<span class='pm-range'>(slider from {state.get('min')} to {state.get('max')})</span></div>")
        if name in ("ToggleButtonsModel", "DropdownModel", "RadioButtonsModel"):
            options = state.get("_options_labels", [])
            chosen = state.get("index")
            shown = " · ".join(f"<b class='pm-chosen'>{html.escape(o)}</b>" if i == chosen else html.escape(o)
                               for i, o in enumerate(options))
            return f"<div class='{classes}'>{label}{shown}</div>"
        if name in ("ButtonModel", "ToggleButtonModel"):  # a button as its label; a pressed toggle in bold
            text = f"[{html.escape(state.get('description', ''))}]"
            return f"<div class='{classes}'>{f'<b>{text}</b>' if state.get('value') else text}</div>"
        if name == "CheckboxModel":
            return f"<div class='{classes}'>{label}<b>{'on' if state.get('value') else 'off'}</b></div>"
        return ""


def _page_name(notebook: Path) -> str:
    return notebook.stem + ".html"


def _title(notebook) -> str:
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if match:
                return match.group(1).strip()
    return "untitled"


def _nav(pages: list[tuple[str, str]], index: int) -> str:
    links = ["<a href='index.html'>all notebooks</a>"]
    if index > 0:
        links.insert(0, f"<a rel='prev' href='{pages[index - 1][0]}'>← {html.escape(pages[index - 1][1])}</a>")
    if index < len(pages) - 1:
        links.append(f"<a rel='next' href='{pages[index + 1][0]}'>{html.escape(pages[index + 1][1])} →</a>")
    return ("<nav class='pm-nav' style='display: flex; justify-content: space-between; gap: 1em; padding: 0.6em 1em; "
            "font-family: sans-serif; border-bottom: 1px solid #ddd'>" + "".join(f"<span>{link}</span>" for link in links)
            + "</nav>")


def _offline(body: str) -> str:
    """Badges as text links, notebook links as page links, no script from another host."""
    body = BADGE.sub(lambda m: f"<a href=\"{m['href']}\">{'Open in Colab' if m['alt'] == 'Open In Colab' else 'Launch on Binder'}</a>",
                     body)
    body = NOTEBOOK_LINK.sub(lambda m: f'href="{m["name"]}.html"', body)
    return EXTERNAL_SCRIPT.sub("", body)


def _mathjax(out: Path) -> str:
    """Copy MathJax 2 into the site; return the URL pages load it from."""
    import jupyter_server_mathjax

    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (out / "mathjax").exists():
        shutil.copytree(source, out / "mathjax")
    return "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"  # the configuration the package ships


def build(executed: Path | None = None, out: Path | None = None, readme: Path | None = None) -> list[Path]:
    """Write the site: one page per notebook in `executed`, an index from `readme`; return the pages written.

    Raises:
        FileNotFoundError: no executed notebook in `executed` (run `make test` or `make run` first).
    """
    executed = executed or project_home() / EXECUTED
    out = out or project_home() / SITE
    readme = readme or project_home() / "README.md"
    notebooks = sorted(executed.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no executed notebook in {executed}: run `make test` or `make run` first, "
                                "which execute the notebooks into that folder")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    exporter = HTMLExporter(template_name="lab", mathjax_url=_mathjax(out), require_js_url="", jquery_url="",
                            widget_renderer_url="")
    exporter.register_preprocessor(StaticWidgets(), enabled=True)
    loaded = [(path, nbformat.read(path, as_version=4)) for path in notebooks]
    pages = [(_page_name(path), _title(notebook)) for path, notebook in loaded]
    written = []
    for i, (path, notebook) in enumerate(loaded):
        body, _ = exporter.from_notebook_node(notebook)
        nav = _nav(pages, i)
        body = _offline(body).replace('<script src="mathjax/', MATHJAX_FONTS + '<script src="mathjax/', 1)
        body = body.replace("</head>", "<link rel='icon' href='data:,'>\n</head>", 1)  # no request for /favicon.ico
        body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + nav, body, count=1)
        body = body.replace("</body>", nav + "</body>", 1)
        (out / pages[i][0]).write_text(body, encoding="utf-8")
        written.append(out / pages[i][0])
    written.append(static_explorer.add_to_site(out))  # computes its data first if the checkpoint or code changed
    written.append(_index(readme, pages, out))
    return written


def _index(readme: Path, pages: list[tuple[str, str]], out: Path) -> Path:
    """The index page: the README's front matter (down to its results table), the results figure, every page."""
    text = readme.read_text(encoding="utf-8")
    front = text.split("\n## ", 2)
    intro = front[0] + ("\n## " + front[1] if len(front) > 1 else "")
    intro = intro.split("\n| ", 1)[0]  # the prose, not the long results table
    figures = re.findall(r"!\[[^\]]*\]\((docs/[^)]+\.png)\)", intro)
    for figure in figures:
        (out / "docs").mkdir(exist_ok=True)
        shutil.copy(readme.parent / figure, out / figure)
    listing = "\n".join(f"<li><a href='{name}'>{html.escape(title)}</a></li>" for name, title in pages)
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'><title>Pruning MNIST</title>"
        "<link rel='icon' href='data:,'>"
        "<style>body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;line-height:1.5}"
        "img{max-width:100%}</style></head><body>"
        + _offline(markdown2html_mistune(intro))
        + "<h2>The explorer, without a kernel</h2><p class='pm-static-explorer-link'><a href='explorer.html'>Drag k "
          "in your browser</a>: weight and unit pruning of the series' network, layer-wise or global, every setting "
          "precomputed (accuracy, weights kept, the histograms of |w|).</p>"
        + f"<h2>The notebooks, executed</h2><ol start='0'>{listing}</ol>"
        + "<p>Every page shows the notebook as <code>make test</code> ran it, with every figure and table. The "
          "explorer's controls are shown as the run left them; the live version runs in Colab, on Binder or "
          "locally (<code>make lab</code>).</p></body></html>")
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def main() -> None:
    started = time.perf_counter()
    try:
        written = build()
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        sys.exit(1)
    print(f"wrote {len(written)} pages to {written[0].parent} in {time.perf_counter() - started:.0f} s; "
          f"open {written[-1]}")


if __name__ == "__main__":
    main()
