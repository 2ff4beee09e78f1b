"""What the browser tests share (tests/test_browser.py, tests/test_app.py, tests/test_site.py): headless Chromium's
flags, the servers they drive (JupyterLab, Voila) and how they end, the route that keeps every request on
127.0.0.1, typing into a slider, and the test's own numbers for a setting of the explorer.

Heavy imports (playwright, MNIST, the baseline) happen inside the functions that need them, so that the unit tests
pay nothing for this file.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from helpers.config import project_home, series_seed

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
#: The notebooks JupyterLab serves to tests/test_browser.py: notebook 02, and the app's notebook.
NOTEBOOK, APP = "02_weight_pruning.ipynb", "explorer.ipynb"


# --- servers -----------------------------------------------------------------------------------------------------

def require_browser() -> None:
    """Skip with a clear reason where Chromium or Playwright is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install it (Debian: apt-get install chromium) to run the browser test")
    pytest.importorskip("playwright.sync_api", reason="the Python package playwright is not installed")


def stop(server: subprocess.Popen, timeout: float = 10) -> None:
    """End a server started with start_new_session=True, and everything it started: TERM, then KILL."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def wait_until_up(server: subprocess.Popen, status_url: str, log: Path, timeout: float = 60) -> None:
    """Wait until `status_url` answers with HTTP 200; raise with the end of the server's log if it never does."""
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(status_url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.3)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """JupyterLab serving a temporary copy of notebook 02 and of the app's notebook; yields (url, token); always
    shut down."""
    require_browser()
    root = tmp_path / "notebooks"
    root.mkdir()
    shutil.copy(project_home() / "notebooks" / NOTEBOOK, root / NOTEBOOK)
    shutil.copy(project_home() / "app" / APP, root / APP)  # the explorer with every control, as a notebook
    home = tmp_path / "jupyter"
    settings = home / "settings"
    for path, content in [
        ("@jupyterlab/apputils-extension/notification.jupyterlab-settings", {"fetchNews": "false", "checkForUpdates": False}),
        ("@jupyterlab/notebook-extension/tracker.jupyterlab-settings", {"windowingMode": "none"}),
    ]:
        (settings / path).parent.mkdir(parents=True, exist_ok=True)
        (settings / path).write_text(json.dumps(content))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "IPYTHONDIR": str(home / "ipython"), "MPLCONFIGDIR": str(home / "mpl")}
    port, token = free_port(), secrets.token_hex(16)
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(server, f"{url}/api/status?token={token}", tmp_path / "jupyterlab.log")
        yield url, token
    finally:
        try:
            request = urllib.request.Request(f"{url}/api/shutdown", method="POST",
                                             headers={"Authorization": f"token {token}"})
            urllib.request.urlopen(request, timeout=5)
            server.wait(timeout=20)
        except Exception:
            pass
        stop(server)
        log.close()


@pytest.fixture
def voila(tmp_path):
    """Voila serving the app on 127.0.0.1; yields its URL; always shut down."""
    require_browser()
    pytest.importorskip("voila", reason="voila is a dependency of the package: pip install -e .")
    port = free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "IPYTHONDIR": str(tmp_path / "ipython"), "MPLCONFIGDIR": str(tmp_path / "mpl"),
           "JUPYTER_PATH": str(project_home() / "app")}  # the offline template, as `make explorer` runs it
    log = open(tmp_path / "voila.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "voila", str(project_home() / "app" / APP), "--no-browser",
         "--template=offline", f"--port={port}", "--Voila.ip=127.0.0.1"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(server, f"{url}voila/static/voila.js", tmp_path / "voila.log")  # a static file: no kernel starts
        yield url
    finally:
        stop(server, timeout=15)
        log.close()


@pytest.fixture
def shots() -> Path:
    """The folder the browser tests' screenshots go to: build/screenshots/."""
    folder = project_home() / "build" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --- pages -------------------------------------------------------------------------------------------------------

def only_local(outside: list):
    """A Playwright route handler that lets requests to 127.0.0.1 (and data:, about:) through and aborts any other,
    recording its URL in `outside`."""
    def route(route):
        where = urlparse(route.request.url)
        if where.hostname == "127.0.0.1" or where.scheme not in ("http", "https", "ws", "wss"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()
    return route


def set_by_typing(page, slider, text):
    """Type `text` into a slider's readout box and press Enter, as a user sets an exact value."""
    box = slider.locator(".widget-readout")
    box.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def layer_names() -> list[str]:
    """The names of the trained network's hidden layers (the per-layer sliders', in order)."""
    from helpers.pruning import prunable_layers
    return list(prunable_layers(state()[0]))


# --- the test's own numbers ----------------------------------------------------------------------------------------

@functools.cache
def state():
    """The trained network, the test split and the calibration split, as the app loads them."""
    from helpers.criteria import calibration
    from helpers.data import load_mnist
    from helpers.repair import CALIBRATION_IMAGES
    from helpers.training import baseline
    train, validation, test = load_mnist()
    net, _ = baseline(seed=series_seed(), progress=False)
    return net, test, calibration(train, CALIBRATION_IMAGES)


def pruned_as_the_app_does(method: str, k: int | dict, criterion: str | None = None, repaired: bool = False):
    """The test's own pruned network for a setting of the app (k may be {layer name: k})."""
    from helpers.criteria import DATA_AWARE
    from helpers.pruning import apply_masks, rank
    from helpers.repair import repair
    net, test, calibration = state()
    data = calibration.images if criterion in DATA_AWARE[method] else None
    pruned = apply_masks(net, rank(net, method, "layer", criterion=criterion, data=data).masks(k))
    return repair(net, pruned, calibration.images) if repaired else pruned


def expected(method: str, k: int | dict, criterion: str | None = None, repaired: bool = False) -> str:
    """The test's own computation of the test accuracy the app must show (k may be {layer name: k})."""
    from helpers.training import evaluate
    return f"{100 * evaluate(pruned_as_the_app_does(method, k, criterion, repaired), state()[1]):.2f}"


def expected_verdict(shown: tuple, pinned: tuple) -> str:
    """The test's own paired test of the shown setting against the pinned one: the word the app must show."""
    from helpers.stats import paired
    from helpers.training import correct
    test = state()[1]
    return paired(correct(pruned_as_the_app_does(*shown), test), correct(pruned_as_the_app_does(*pinned), test))["verdict"]
