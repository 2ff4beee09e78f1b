"""The explorer as a standalone app (`make explorer`: Voila serving app/explorer.ipynb) in headless Chromium.

Voila runs on 127.0.0.1 and shows no code. The test drives every control as a user would: types a value of k,
switches to unit pruning, chooses a criterion, switches the repair on, pins a setting, and checks each readout
against numbers the test computes itself. Ten quick changes end in the state of the last. No request leaves
127.0.0.1. Screenshots go to build/screenshots/. Runs in `make test`, after nbmake has cached the baseline.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers.config import project_home
from test_browser import (ARGS, CHROMIUM, free_port, only_local, set_by_typing, stop,  # tests/ is on sys.path
                          wait_until_up)

pytestmark = pytest.mark.browser


def expected(method: str, k: int, criterion: str | None = None, repaired: bool = False) -> str:
    """The test's own computation of the test accuracy the app must show."""
    from helpers.criteria import DATA_AWARE, calibration
    from helpers.data import load_mnist
    from helpers.pruning import apply_masks, masks_for
    from helpers.repair import CALIBRATION_IMAGES, repair
    from helpers.training import baseline, evaluate
    train, validation, test = load_mnist()
    net, _ = baseline(progress=False)
    images = calibration(train, CALIBRATION_IMAGES).images
    data = images if criterion in DATA_AWARE[method] else None
    pruned = apply_masks(net, masks_for(net, k, method, criterion=criterion, data=data))
    if repaired:
        pruned = repair(net, pruned, images)
    return f"{100 * evaluate(pruned, test):.2f}"


@pytest.fixture
def voila(tmp_path):
    """Voila serving the app on 127.0.0.1; yields its URL; always shut down."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install it (Debian: apt-get install chromium) to run the browser test")
    pytest.importorskip("playwright.sync_api", reason="the Python package playwright is not installed")
    pytest.importorskip("voila", reason="voila is a dependency of the package: pip install -e .")
    port = free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "IPYTHONDIR": str(tmp_path / "ipython"), "MPLCONFIGDIR": str(tmp_path / "mpl"),
           "JUPYTER_PATH": str(project_home() / "app")}  # the offline template, as `make explorer` runs it
    log = open(tmp_path / "voila.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "voila", str(project_home() / "app" / "explorer.ipynb"), "--no-browser",
         "--template=offline", f"--port={port}", "--Voila.ip=127.0.0.1"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(server, f"{url}voila/static/voila.js", tmp_path / "voila.log")  # a static file: no kernel starts
        yield url
    finally:
        stop(server, timeout=15)
        log.close()


def test_the_explorer_app_in_voila(voila, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    shots = project_home() / "build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    outside, errors = [], []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        page = None
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1500})
            context.route("**/*", only_local(outside))
            page = context.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(voila)
            explorer = page.locator(".pm-explorer")
            explorer.wait_for(timeout=300_000)  # the kernel loads MNIST and the baseline and sweeps k once
            assert "explore(net, test" not in page.inner_text("body")  # no code shown
            readout, accuracy = page.locator(".pm-readout"), page.locator(".pm-readout .pm-accuracy")
            expect(readout.locator(".pm-k-shown")).to_have_text("90", timeout=60_000)
            expect(accuracy).to_have_text(expected("weight", 90, "magnitude"))

            set_by_typing(page, page.locator(".pm-k"), "95")  # type a value
            expect(readout.locator(".pm-k-shown")).to_have_text("95", timeout=30_000)
            expect(accuracy).to_have_text(expected("weight", 95, "magnitude"))

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

            for value in ("10", "80", "30", "60", "40", "90", "20", "70", "50", "85"):  # ten quick changes
                set_by_typing(page, page.locator(".pm-k"), value)
            expect(readout.locator(".pm-k-shown")).to_have_text("85", timeout=60_000)
            expect(accuracy).to_have_text(expected("unit", 85, "l2"))
            expect(page.locator(".pm-pinned .pm-pinned-accuracy")).to_have_text(expected("weight", 95, "magnitude"))
            explorer.screenshot(path=str(shots / "app.png"))
        except Exception:
            if page is not None:
                page.screenshot(path=str(shots / "app_failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert not errors, f"page errors: {errors}"
    assert not outside, f"requests tried to leave 127.0.0.1: {outside[:5]}"
