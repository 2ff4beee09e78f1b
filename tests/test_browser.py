"""The explorer in a real browser: JupyterLab on 127.0.0.1, notebook 02 run from the menu, headless Chromium.

Checks that the slider reacts (keyboard, drag, typed values) with the numbers the test computes
itself (accuracy, digits broken and fixed), that every picture is shown at its CSS size or smaller
(rendered for a device-pixel ratio of 2, never scaled up), that the controls line up and that the
per-layer sliders work. Then it runs the app's notebook (app/explorer.ipynb) in the same JupyterLab
and drives the controls notebook 02 does not offer: criterion, repair, pin, per-layer fill, fine-tune.
Runs last in `make test` (after nbmake has trained and cached the baseline).
Skips with a clear reason where /usr/bin/chromium or Playwright is missing. The servers, the routes and
the test's own numbers for a setting are shared with tests/test_app.py through tests/conftest.py.
Nothing is left running and no request leaves 127.0.0.1. Screenshots go to
build/screenshots/.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import (APP, ARGS, CHROMIUM, NOTEBOOK, expected, layer_names, set_by_typing,  # tests/ is on sys.path
                      state)

pytestmark = pytest.mark.browser

BADGE_HOSTS = {"colab.research.google.com", "mybinder.org"}
IMAGE_HASH = """async (img) => {
    const bytes = await (await fetch(img.src)).arrayBuffer();
    const digest = await crypto.subtle.digest("SHA-256", bytes);
    return Array.from(new Uint8Array(digest)).map(b => b.toString(16).padStart(2, "0")).join("");
}"""


def expected_accuracy(k: int | tuple[int, ...]) -> str:
    """The test's own computation of the accuracy the explorer must show at k (weight pruning, layer-wise; a tuple
    gives one k per hidden layer)."""
    return expected("weight", dict(zip(layer_names(), k)) if isinstance(k, tuple) else k)


def expected_changes(k: int) -> tuple[int, int]:
    """The test's own count of the test digits that weight pruning at k breaks (right -> wrong) and fixes."""
    import torch
    from helpers.pruning import prune
    net, test, _ = state()
    with torch.no_grad():
        before, after = net(test.images).argmax(1), prune(net, k, "weight")(test.images).argmax(1)
    right_before, right_after = before == test.labels, after == test.labels
    return int((right_before & ~right_after).sum()), int((~right_before & right_after).sum())


def check_layout(page):
    """Every picture is shown at its CSS size or smaller (never scaled up), and the controls start in one column."""
    from helpers.explorer import DEVICE_PIXEL_RATIO
    for css in ("pm-histograms", "pm-pixels", "pm-digits", "pm-curve"):
        image = page.locator(f"img.{css}")
        natural, shown, attribute = image.evaluate(
            "img => [img.naturalWidth, img.getBoundingClientRect().width, Number(img.getAttribute('width'))]")
        assert natural == DEVICE_PIXEL_RATIO * attribute, f"{css}: {natural} pixels for a width of {attribute}"
        assert 0 < shown <= attribute + 0.5 and natural / shown >= DEVICE_PIXEL_RATIO - 0.01, \
            f"{css} is scaled up: {natural} pixels shown {shown} CSS pixels wide"
    starts = {css: page.locator(f".{css} {inner}").first.bounding_box()["x"] for css, inner in
              [("pm-k", ".slider-container"), ("pm-method", "button"), ("pm-scope", "button")]}
    assert max(starts.values()) - min(starts.values()) <= 3, f"controls do not line up: {starts}"


def test_explorer_in_jupyterlab(jupyterlab, tmp_path, shots):
    from playwright.sync_api import sync_playwright

    url, token = jupyterlab
    started = time.time()
    blocked, errors = [], []

    def only_local_or_record(route):
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium"), executable_path=str(CHROMIUM), headless=True, args=ARGS,
            viewport={"width": 1400, "height": 1800})  # tall enough for the whole explorer
        try:
            context.route("**/*", only_local_or_record)
            page = context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            run_all(page, f"{url}/lab/tree/{NOTEBOOK}?token={token}")
            explorer = page.locator(".pm-explorer")
            explorer.wait_for(timeout=600_000)  # the notebook's cells before it take minutes on 2 busy cores
            wait_until_all_ran(page)
            first_image = the_widgets_rendered(page, explorer, shots)
            keyboard_drag_and_typing(page, explorer, first_image, shots)
            one_k_per_layer_in_notebook_02(page)
            every_control_in_a_notebook(context.new_page(), f"{url}/lab/tree/{APP}?token={token}", shots)
            assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
        except Exception:
            page.screenshot(path=str(shots / "failure.png"), full_page=True)
            print("outputs at failure:", page.locator(".jp-OutputArea").all_inner_texts())
            raise
        finally:
            context.close()
    assert not errors, f"page errors: {errors}"
    # the launch badges in the notebook's first cell are the only outside resources a page may ask for
    unexpected = [u for u in blocked if urlparse(u).hostname not in BADGE_HOSTS]
    assert not unexpected, f"requests tried to leave 127.0.0.1: {unexpected}"
    assert time.time() - started < 900


def the_widgets_rendered(page, explorer, shots: Path) -> str:
    """Every output rendered as widgets, at k = 0, laid out; return the hash of the first histogram."""
    from playwright.sync_api import expect
    outputs = page.locator(".jp-OutputArea").all_inner_texts()
    for text in outputs:
        for bad in ("Error displaying widget", "Loading widget", "VBox(children=", "IntSlider(value="):
            assert bad not in text, f"widget did not render: {bad!r} in an output"
    expect(page.locator(".pm-readout .pm-k-shown")).to_have_text("0")
    first_image = settle(page, histogram_of(page))
    explorer.screenshot(path=str(shots / "explorer_k0.png"))
    check_layout(page)
    return first_image


def histogram_of(page):
    return page.locator(".pm-histograms img, img.pm-histograms").first


def keyboard_drag_and_typing(page, explorer, first_image: str, shots: Path) -> None:
    """The main slider by the keyboard, by dragging its handle and by typed values (one out of range), each with
    the test's own accuracy; back at k = 0, the very same picture as at the start."""
    from playwright.sync_api import expect
    readout, histogram = page.locator(".pm-readout"), histogram_of(page)

    # 1. the keyboard: focus the handle, three presses of the right arrow
    slider = page.locator(".pm-k")
    slider.locator(".noUi-handle").focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    check_point(page, 3, readout)

    # 2. dragging the handle to about 80% of the track
    track = slider.locator(".noUi-target").bounding_box()
    handle = slider.locator(".noUi-handle").bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(track["x"] + 0.8 * track["width"], track["y"] + track["height"] / 2, steps=10)
    page.mouse.up()
    dragged = int(slider.locator(".widget-readout").inner_text())
    assert 70 <= dragged <= 90, f"drag to 80% of the track gave k = {dragged}"
    check_point(page, dragged, readout)

    # 3. typing an exact value into the readout
    set_by_typing(page, slider, "95")
    check_point(page, 95, readout)
    breaks, fixes = expected_changes(95)
    expect(readout.locator(".pm-breaks")).to_have_text(str(breaks))
    expect(readout.locator(".pm-fixes")).to_have_text(str(fixes))
    k95_image = settle(page, histogram)
    check_layout(page)
    assert k95_image != first_image, "the histogram did not change between k = 0 and k = 95"
    explorer.screenshot(path=str(shots / "explorer_k95.png"))
    page.screenshot(path=str(shots / "notebook_02.png"), full_page=False)

    # a value out of range typed into the readout is clamped, without an error in the notebook
    set_by_typing(page, slider, "250")
    check_point(page, 99, readout)

    # back to 0: the very same picture as at the start
    set_by_typing(page, slider, "0")
    check_point(page, 0, readout)
    assert settle(page, histogram) == first_image


def one_k_per_layer_in_notebook_02(page) -> None:
    """One k per hidden layer: the sliders start at the main k; notebook 02 gives no validation split and no
    training split, so the fill and the fine-tune are there but disabled."""
    from playwright.sync_api import expect
    readout = page.locator(".pm-readout")
    page.locator(".pm-per-layer input[type=checkbox]").check()
    set_by_typing(page, page.locator(".pm-layer-k2"), "90")
    expect(readout).to_contain_text("layer 0: 0% · layer 2: 90% · layer 4: 0% · layer 6: 0%", timeout=30_000)
    expect(readout.locator(".pm-accuracy")).to_have_text(expected_accuracy((0, 90, 0, 0)), timeout=30_000)
    expect(page.locator("button.pm-fill")).to_be_disabled()
    expect(page.locator("button.pm-fine-tune")).to_be_disabled()
    page.locator(".pm-per-layer input[type=checkbox]").uncheck()
    check_point(page, 0, readout)


def run_all(page, address: str) -> None:
    """Open a notebook in JupyterLab and run all its cells from the menu, as a user would."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout, expect
    page.goto(address)
    page.locator(".jp-NotebookPanel .jp-Notebook").wait_for(timeout=60_000)
    dialog = page.locator(".jp-Dialog:has-text('Select Kernel')")
    try:  # a fresh JupyterLab asks which kernel to start; take the notebook's own (the default)
        dialog.wait_for(timeout=5_000)
        dialog.locator("button.jp-mod-accept").click()
    except PlaywrightTimeout:
        pass
    expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_be_visible(timeout=60_000)
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-item:has(.lm-Menu-itemLabel:text-is('Run All Cells'))").click()


def every_control_in_a_notebook(page, address: str, shots: Path) -> None:
    """The app's notebook run in JupyterLab (calibration images, the validation and the training split given): the
    criterion, the repair and the per-layer fill, each checked against the test's own accuracy; the pin against the
    readout it pinned; the fine-tune against the one-shot accuracy and the difference printed."""
    from playwright.sync_api import expect
    run_all(page, address)
    page.locator(".pm-explorer").wait_for(timeout=300_000)
    readout, accuracy = page.locator(".pm-readout"), page.locator(".pm-readout .pm-accuracy")
    expect(accuracy).to_have_text(expected("weight", 90, "magnitude"), timeout=60_000)
    page.locator(".pm-criterion select").select_option("wanda")
    expect(accuracy).to_have_text(expected("weight", 90, "wanda"), timeout=30_000)
    page.locator(".pm-repair input[type=checkbox]").check()
    expect(readout).to_contain_text("repaired", timeout=30_000)
    expect(accuracy).to_have_text(expected("weight", 90, "wanda", repaired=True), timeout=30_000)
    page.locator(".pm-pin button, button.pm-pin").first.click()
    expect(page.locator(".pm-pinned .pm-pinned-accuracy")).to_have_text(accuracy.inner_text())
    page.locator(".pm-repair input[type=checkbox]").uncheck()
    page.locator(".pm-per-layer input[type=checkbox]").check()
    expect(readout).to_contain_text("layer 0: 90% · layer 2: 90% · layer 4: 90% · layer 6: 90%", timeout=30_000)
    page.locator("button.pm-fill").click()  # filled from the sensitivity curves for k = 90
    expect(readout).not_to_contain_text("layer 0: 90% · layer 2: 90% · layer 4: 90% · layer 6: 90%", timeout=60_000)
    expect(readout.locator(".pm-k-shown")).to_have_text("90.0", timeout=30_000)
    names = layer_names()
    filled = [float(page.locator(f".pm-layer-k{i} .widget-readout").inner_text()) for i in range(1, 5)]
    expect(readout).to_contain_text(" · ".join(f"layer {name}: {k:g}%" for name, k in zip(names, filled)))
    expect(accuracy).to_have_text(expected("weight", dict(zip(names, filled)), "wanda"), timeout=30_000)
    one_shot = accuracy.inner_text()
    page.locator("button.pm-fine-tune").click()
    expect(readout.locator(".pm-tuned-accuracy")).to_be_visible(timeout=120_000)
    expect(page.locator(".pm-tune-status")).to_contain_text("fine-tuned")
    tuned = float(readout.locator(".pm-tuned-accuracy").inner_text())
    assert accuracy.inner_text() == one_shot
    expect(readout).to_contain_text(f"({tuned - float(one_shot):+.2f} points against one-shot: ")
    page.locator(".pm-explorer").screenshot(path=str(shots / "explorer_every_control.png"))
    page.close()


def wait_until_all_ran(page, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count() > 0
        if prompts and all(p.strip().startswith("[") and p.strip()[1:-2].strip().isdigit() for p in prompts) and idle:
            return
        time.sleep(0.5)
    raise AssertionError(f"not every cell ran: prompts {page.locator('.jp-CodeCell .jp-InputPrompt').all_inner_texts()}")


def check_point(page, k, readout):
    from playwright.sync_api import expect
    expect(readout.locator(".pm-k-shown")).to_have_text(str(k), timeout=30_000)
    expect(readout.locator(".pm-accuracy")).to_have_text(expected_accuracy(k), timeout=30_000)


def settle(page, image, quiet_ms=600, timeout=30):
    """Wait for the kernel to go idle and the image to stop changing; return the hash of its bytes."""
    deadline = time.time() + timeout
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=timeout * 1000)
    last, since = None, time.time()
    while time.time() < deadline:
        src = image.get_attribute("src")
        if src != last:
            last, since = src, time.time()
        elif time.time() - since > quiet_ms / 1000:
            return image.evaluate(IMAGE_HASH)
        time.sleep(0.1)
    raise AssertionError("the image kept changing")
