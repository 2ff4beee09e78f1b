"""The explorer as a standalone app (`make explorer`: Voila serving app/explorer.ipynb) in headless Chromium.

Voila runs on 127.0.0.1 and shows no code. The test drives every control as a user would: types values of k,
drags the handle, switches to unit pruning, chooses a criterion, switches the repair on, pins a setting, gives
each layer its own k and fills them from the sensitivity curves, starts a fine-tune, cancels it and runs it to the
end. It checks every accuracy shown against numbers the test computes itself (the fine-tuned one against the
one-shot one and the difference printed; the Python tests check it exactly). Ten quick changes end in the state
of the last. No request from the page leaves 127.0.0.1. It measures, from the input event to the browser's next frame, how long a new
and a cached point take to change the readout and the pictures, and how many readout updates a drag gets per
second; it prints them and writes them to build/results/explorer_browser.json (a record, not a timed assertion:
benchmarks/explorer.py measures the same from Python). Screenshots go to build/screenshots/. Runs in `make test`,
after nbmake has cached the baseline.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path

import pytest

from conftest import (ARGS, CHROMIUM, expected, expected_verdict, layer_names, only_local,  # tests/ is on sys.path
                      set_by_typing)
from helpers.config import project_home

pytestmark = pytest.mark.browser

#: Records the time of every Enter key, readout change and picture change, each at the browser's next frame.
TIMING_JS = """() => {
  const pm = window.__pm = {marks: [], enter: null};
  document.addEventListener('keydown', e => { if (e.key === 'Enter') pm.enter = performance.now(); }, true);
  const readout = document.querySelector('.pm-readout');
  new MutationObserver(() => { const html = readout.innerHTML;
    requestAnimationFrame(() => pm.marks.push({what: 'readout', t: performance.now(), html})); })
    .observe(readout, {subtree: true, childList: true, characterData: true});
  for (const name of ['pm-histograms', 'pm-pixels', 'pm-digits', 'pm-curve']) {
    const image = document.querySelector('img.' + name + ', .' + name + ' img');
    new MutationObserver(() => requestAnimationFrame(() => pm.marks.push({what: name, t: performance.now()})))
      .observe(image, {attributes: true, attributeFilter: ['src']});
  }
}"""


def latencies(page, k: str) -> dict:
    """Seconds from the Enter that typed `k` to the exact readout for it and to the last picture changed."""
    marks = page.evaluate("window.__pm")
    readout = [m["t"] for m in marks["marks"] if m["what"] == "readout" and "pm-accuracy" in m["html"]
               and f"pm-k-shown\">{k}<" in m["html"]]
    pictures = [m["t"] for m in marks["marks"] if m["what"] != "readout"]
    return dict(readout=(readout[0] - marks["enter"]) / 1000, pictures=(max(pictures) - marks["enter"]) / 1000)


def typed(page, slider, k: str, accuracy: str) -> dict:
    """Type k, wait for the exact readout and for the pictures to rest; return the latencies."""
    from playwright.sync_api import expect
    page.evaluate("window.__pm.marks = []")
    set_by_typing(page, slider, k)
    expect(page.locator(".pm-readout .pm-k-shown")).to_have_text(k, timeout=30_000)
    expect(page.locator(".pm-readout .pm-accuracy")).to_have_text(accuracy, timeout=30_000)
    quiet(page)
    return latencies(page, k)


def quiet(page, seconds: float = 0.8, timeout: float = 30) -> None:
    """Wait until nothing changed on screen for `seconds`."""
    deadline, count, since = time.time() + timeout, -1, time.time()
    while time.time() < deadline:
        now = page.evaluate("window.__pm.marks.length")
        if now != count:
            count, since = now, time.time()
        elif time.time() - since > seconds:
            return
        time.sleep(0.1)
    raise AssertionError("the explorer kept changing")


def test_the_explorer_app_in_voila(voila, shots):
    from playwright.sync_api import expect, sync_playwright

    outside, errors = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        page = None
        try:
            context = browser.new_context(viewport={"width": 1000, "height": 1500})  # the explorer's own width
            context.route("**/*", only_local(outside))
            page = context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(voila, timeout=300_000)  # Voila sends the page as the notebook runs: as long as the kernel
            explorer = page.locator(".pm-explorer")
            explorer.wait_for(timeout=300_000)  # loads MNIST and the baseline and sweeps k once (minutes when busy)
            assert "explore(net, test" not in page.inner_text("body")  # no code shown
            expect(page.locator(".pm-readout .pm-k-shown")).to_have_text("90", timeout=60_000)
            expect(page.locator(".pm-readout .pm-accuracy")).to_have_text(expected("weight", 90, "magnitude"))
            page.evaluate(TIMING_JS)
            new, cached = new_then_cached_points(page)
            drag = dragging(page, explorer, shots)
            pin_repair_criterion_and_method(page)
            ten_quick_changes_then_pin_again(page)
            one_k_per_layer_and_the_fill(page, explorer, shots)
            fine_tune_cancelled_then_finished(page, explorer, shots)
        except Exception:
            if page is not None:
                page.screenshot(path=str(shots / "app_failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert not errors, f"page errors: {errors}"
    assert not outside, f"requests tried to leave 127.0.0.1: {outside[:5]}"
    record_timings(new, cached, drag)


#: The points typed for the speed record: low k (the dense products cost most there) to high.
POINTS = ("33", "50", "66", "80", "97")


def new_then_cached_points(page) -> tuple[list[dict], list[dict]]:
    """Speed: new points (typed, so exact at once), then the same points again (cached); their latencies."""
    slider = page.locator(".pm-k")
    new = [typed(page, slider, k, expected("weight", int(k), "magnitude")) for k in POINTS]
    cached = [typed(page, slider, k, expected("weight", int(k), "magnitude")) for k in POINTS]
    return new, cached


def dragging(page, explorer, shots: Path) -> dict:
    """Dragging: the readout follows with estimates, the exact figures come when the handle rests; return how
    often the readout changed."""
    from playwright.sync_api import expect
    slider, readout = page.locator(".pm-k"), page.locator(".pm-readout")
    track = slider.locator(".noUi-target").bounding_box()
    handle = slider.locator(".noUi-handle").bounding_box()
    y = handle["y"] + handle["height"] / 2
    start_x = handle["x"] + handle["width"] / 2
    page.evaluate("window.__pm.marks = []")
    page.mouse.move(start_x, y)
    page.mouse.down()
    began = page.evaluate("performance.now()")
    moves = 60
    for i in range(1, moves + 1):  # about two seconds, left across 40% of the track
        page.mouse.move(start_x - i * 0.4 * track["width"] / moves, y)
        time.sleep(0.03)
    ended = page.evaluate("performance.now()")
    explorer.screenshot(path=str(shots / "app_drag.png"))  # mid-drag: estimated, pictures dimmed
    page.mouse.up()
    dragged = slider.locator(".widget-readout").inner_text().strip()
    expect(readout.locator(".pm-k-shown")).to_have_text(dragged, timeout=30_000)
    expect(readout.locator(".pm-accuracy")).to_have_text(expected("weight", int(dragged), "magnitude"), timeout=30_000)
    during = [m for m in page.evaluate("window.__pm.marks")
              if m["what"] == "readout" and began <= m["t"] <= ended]
    estimates = [m for m in during if "pm-estimate" in m["html"]]
    assert len(estimates) >= 3, f"the readout did not follow the drag: {len(during)} updates"
    quiet(page)  # the pictures follow the exact readout, and are no longer dimmed
    expect(page.locator(".pm-explorer .pm-stale")).to_have_count(0)
    return dict(seconds=(ended - began) / 1000, readout_updates=len(during), estimates=len(estimates),
                updates_per_second=len(during) / ((ended - began) / 1000))


def pin_repair_criterion_and_method(page) -> None:
    """Pin weight k = 95; the repair on and off; a data-aware criterion; unit pruning, back to its default
    criterion."""
    from playwright.sync_api import expect
    readout, accuracy = page.locator(".pm-readout"), page.locator(".pm-readout .pm-accuracy")
    set_by_typing(page, page.locator(".pm-k"), "95")
    expect(accuracy).to_have_text(expected("weight", 95, "magnitude"), timeout=30_000)
    page.locator(".pm-pin button, button.pm-pin").first.click()  # pin weight k = 95
    expect(page.locator(".pm-pinned .pm-pinned-accuracy")).to_have_text(expected("weight", 95, "magnitude"))

    page.locator(".pm-repair input[type=checkbox]").check()  # repair the survivors
    expect(readout).to_contain_text("repaired", timeout=30_000)
    expect(accuracy).to_have_text(expected("weight", 95, "magnitude", repaired=True), timeout=30_000)
    page.locator(".pm-repair input[type=checkbox]").uncheck()

    page.locator(".pm-criterion select").select_option("wanda")  # a data-aware criterion
    expect(readout).to_contain_text("wanda", timeout=30_000)
    expect(accuracy).to_have_text(expected("weight", 95, "wanda"), timeout=30_000)

    page.locator(".pm-method button", has_text="unit").click()  # switch the method
    expect(readout).to_contain_text("unit pruning", timeout=30_000)
    expect(readout).to_contain_text(", l2", timeout=30_000)  # the criterion went back to the unit default
    expect(accuracy).to_have_text(expected("unit", 95, "l2"), timeout=30_000)


def ten_quick_changes_then_pin_again(page) -> None:
    """Ten quick changes end in the state of the last, the pin kept; then unpin, and pin the uniform unit k = 85."""
    from playwright.sync_api import expect
    readout, accuracy = page.locator(".pm-readout"), page.locator(".pm-readout .pm-accuracy")
    for value in ("10", "80", "30", "60", "40", "90", "20", "70", "50", "85"):  # ten quick changes
        set_by_typing(page, page.locator(".pm-k"), value)
    expect(readout.locator(".pm-k-shown")).to_have_text("85", timeout=60_000)
    expect(accuracy).to_have_text(expected("unit", 85, "l2"), timeout=30_000)
    expect(page.locator(".pm-pinned .pm-pinned-accuracy")).to_have_text(expected("weight", 95, "magnitude"))
    pin = page.locator(".pm-pin button, button.pm-pin").first
    pin.click()  # unpin, then pin the uniform unit k = 85
    expect(page.locator(".pm-pinned .pm-pinned-accuracy")).to_have_count(0)
    pin.click()
    expect(page.locator(".pm-pinned .pm-pinned-accuracy")).to_have_text(expected("unit", 85, "l2"))


def one_k_per_layer_and_the_fill(page, explorer, shots: Path) -> None:
    """One k per layer: the sliders start at the main k; one typed, then all filled from the sensitivity curves,
    which keep k = 85% of the units in all; the main slider then re-allocates them; the allocation against the
    pinned uniform k = 85."""
    from playwright.sync_api import expect
    readout, accuracy, slider = page.locator(".pm-readout"), page.locator(".pm-readout .pm-accuracy"), \
        page.locator(".pm-k")
    names = layer_names()
    page.locator(".pm-per-layer input[type=checkbox]").check()
    expect(readout).to_contain_text("layer 0: 85% · layer 2: 85% · layer 4: 85% · layer 6: 85%", timeout=30_000)
    set_by_typing(page, page.locator(".pm-layer-k1"), "95")
    expect(readout).to_contain_text("layer 0: 95% · layer 2: 85% · layer 4: 85% · layer 6: 85%", timeout=30_000)
    expect(accuracy).to_have_text(expected("unit", dict(zip(names, (95, 85, 85, 85))), "l2"), timeout=30_000)
    page.locator("button.pm-fill").click()
    expect(readout).not_to_contain_text("layer 0: 95% · layer 2: 85%", timeout=60_000)
    expect(readout.locator(".pm-k-shown")).to_have_text("85.0", timeout=30_000)

    def check_filled():
        filled = [float(page.locator(f".pm-layer-k{i} .widget-readout").inner_text()) for i in range(1, 5)]
        expect(readout).to_contain_text(" · ".join(f"layer {name}: {k:g}%" for name, k in zip(names, filled)))
        expect(accuracy).to_have_text(expected("unit", dict(zip(names, filled)), "l2"), timeout=30_000)
        return filled
    filled = check_filled()
    set_by_typing(page, slider, "80")  # after a fill the main slider re-allocates the layers
    expect(readout.locator(".pm-k-shown")).to_have_text("80.0", timeout=30_000)
    assert check_filled() != filled
    set_by_typing(page, slider, "85")
    expect(readout.locator(".pm-k-shown")).to_have_text("85.0", timeout=30_000)
    assert check_filled() == filled
    # the allocation against the pinned uniform k = 85: whatever the paired test says on this network
    expect(page.locator(".pm-pinned .pm-verdict")).to_have_text(
        expected_verdict(("unit", dict(zip(names, filled)), "l2"), ("unit", 85, "l2")))
    explorer.screenshot(path=str(shots / "app_per_layer.png"))


def fine_tune_cancelled_then_finished(page, explorer, shots: Path) -> None:
    """Fine-tune: start and cancel (nothing kept), then start and let it finish; the readout keeps the one-shot
    accuracy and puts the fine-tuned one beside it; then back to one k for all."""
    from playwright.sync_api import expect
    readout, accuracy = page.locator(".pm-readout"), page.locator(".pm-readout .pm-accuracy")
    one_shot = accuracy.inner_text()
    tune, cancel, status = (page.locator("button.pm-fine-tune"), page.locator("button.pm-cancel"),
                            page.locator(".pm-tune-status"))
    tune.click()
    expect(cancel).to_be_enabled(timeout=10_000)
    cancel.click()
    expect(status).to_contain_text("cancelled at step", timeout=30_000)
    expect(status).to_contain_text("nothing kept")
    expect(tune).to_be_enabled()
    time.sleep(1)  # a result kept by mistake would show by now: the readout is written when the thread ends
    expect(readout.locator(".pm-tuned-accuracy")).to_have_count(0)
    tune.click()
    expect(status).to_contain_text("fine-tuning unit pruning", timeout=10_000)
    expect(tune).to_be_disabled()
    expect(readout.locator(".pm-tuned-accuracy")).to_be_visible(timeout=120_000)
    expect(status).to_contain_text("fine-tuned unit pruning", timeout=10_000)
    bar = page.locator(".pm-progress .progress-bar").get_attribute("style")
    assert re.search(r"(^|;)\s*width:\s*100%", bar), f"the progress bar did not reach its end: {bar}"
    tuned = readout.locator(".pm-tuned-accuracy").inner_text()
    assert accuracy.inner_text() == one_shot
    expect(readout).to_contain_text(f"({float(tuned) - float(one_shot):+.2f} points against one-shot: ")
    expect(page.locator(".pm-pinned")).to_contain_text("; fine-tuned ")
    explorer.screenshot(path=str(shots / "app.png"))
    page.locator(".pm-per-layer input[type=checkbox]").uncheck()
    expect(readout.locator(".pm-k-shown")).to_have_text("85", timeout=30_000)


def record_timings(new: list[dict], cached: list[dict], drag: dict) -> None:
    """Print the latencies and write them to build/results/explorer_browser.json (a record, not an assertion)."""
    summary = lambda runs: dict(readout=statistics.median(t["readout"] for t in runs),  # noqa: E731
                                pictures=statistics.median(t["pictures"] for t in runs),
                                slowest_readout=max(t["readout"] for t in runs),
                                slowest_pictures=max(t["pictures"] for t in runs),
                                each=[dict(k=int(k), **t) for k, t in zip(POINTS, runs)])
    timings = dict(new_point=summary(new), cached_point=summary(cached), drag=drag)
    results = project_home() / "build" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "explorer_browser.json").write_text(json.dumps(timings, indent=1))
    print("explorer in the browser, median seconds from the input to the next frame:",
          json.dumps({k: v for k, v in timings.items()}, default=str))
