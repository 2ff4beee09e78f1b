"""The explorer's ipywidgets panel: the controls, their CSS and layout, and the events that drive the engine.

It computes nothing itself: the numbers come from `engine`, the pictures from `figures`, the text from `readout`,
the fine-tune from `tune`. While a slider is dragged it shows the engine's estimate and the exact point once the
handle rests.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Mapping

import ipywidgets as widgets
import torch
from torch import nn

from helpers.data import Split
from helpers.explorer import readout
from helpers.explorer.engine import CACHE_SIZE, LAYER_K_MAX, LAYER_K_STEP, Engine, Point
from helpers.explorer.figures import Figures, show_png
from helpers.explorer.setting import Setting
from helpers.explorer.tune import FINE_TUNE_EPOCHS, FineTuneJob, tune_recipe, tune_steps
from helpers.pruning import METHODS, SCOPES

#: Seconds without a new value after which the exact figures replace the estimate (the handle rests).
SETTLE_SECONDS = 0.15
#: A slider value that comes within this many seconds of the last one handled is part of a drag (estimated).
MOVING_SECONDS = 0.25
#: One label column for all controls, so that they line up.
CONTROL_STYLE = {"description_width": "72px"}
#: The buttons start where the slider's track does (it keeps 14px for half its handle) and the labels never clip.
PANEL_CSS = ("<style>.pm-explorer .widget-toggle-buttons > .widget-label "
             "{margin: 0 12px 0 2px; text-align: right; overflow: visible} "
             ".pm-explorer .pm-stale {opacity: 0.45; transition: opacity 0.1s}</style>")


def _running_loop():
    """The event loop the kernel runs on (Jupyter, Voila), or None in plain Python, where everything is synchronous."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Controls:
    """The explorer's widgets, with their stable CSS classes (for browser tests) and the panel's layout.

    Args:
        layers: the hidden layers, by name (one slider each).
        method, k: where the controls start.
        criteria: the criteria offered for a method and a scope.
        calibration, train, validation: whether each was given (what the repair, the fine-tune and the fill need).
    """

    def __init__(self, layers: Mapping[str, nn.Linear], method: str, k: int,
                 criteria: Callable[[str, str], list[str]], calibration: bool, train: bool, validation: bool):
        self._criteria = criteria
        self._updating = False  # several controls change together: one update, not several
        self._scope_chosen = "layer"  # the scope to return to when the per-layer mode or unit pruning ends
        slider = dict(min=0, max=99, step=1, continuous_update=True, style=CONTROL_STYLE)
        self.k_slider = widgets.IntSlider(value=k, description="k (%)", layout=widgets.Layout(width="430px"), **slider)
        self.per_layer_box = widgets.Checkbox(value=False, description="one k per hidden layer", indent=False,
                                              layout=widgets.Layout(width="354px", margin="0 0 0 76px"))
        self.layer_sliders = {name: widgets.FloatSlider(
            value=k, min=0, max=LAYER_K_MAX, step=LAYER_K_STEP, readout_format=".1f", continuous_update=True,
            style=CONTROL_STYLE, description=f"layer {name}", layout=widgets.Layout(width="430px"),
            tooltip=f"k (%) of layer {name} ({layer.weight.shape[0]}×{layer.weight.shape[1]}): of its weights, or "
                    "of its units for unit pruning") for name, layer in layers.items()}
        self.fill_button = widgets.Button(
            description="fill from the sensitivity curves", icon="magic", disabled=not validation,
            layout=widgets.Layout(width="260px", margin="0 0 0 76px"),
            tooltip=("notebook 06's allocation of k% overall (the main slider), from one-layer-at-a-time curves on "
                     "the validation split; then the main slider refills as it moves" if validation else
                     "needs the validation split: explore(net, test, validation=validation)"))
        self.layer_box = widgets.VBox([*self.layer_sliders.values(), self.fill_button],
                                      layout=widgets.Layout(display="none"))
        # display: flex puts a ToggleButtons' description beside its buttons (ipywidgets 8 stacks them otherwise)
        buttons = dict(style={**CONTROL_STYLE, "button_width": "90px"}, layout=widgets.Layout(display="flex"))
        self.method_buttons = widgets.ToggleButtons(
            options=list(METHODS), value=method, description="method", **buttons,
            tooltips=["single weights, the least important first by the criterion below",
                      "whole units (rows of a weight matrix), the least important first by the criterion below"])
        self.scope_buttons = widgets.ToggleButtons(
            options=list(SCOPES), value="layer", description="scope", **buttons,
            tooltips=["k% of each layer", "one threshold for all layers together"])
        self.criterion_dropdown = widgets.Dropdown(
            options=criteria(method, "layer"), description="criterion", style=CONTROL_STYLE, layout=widgets.Layout(width="300px"),
            tooltip="the importance score that decides what goes (notebook 06)")
        self.repair_box = widgets.Checkbox(
            value=False, description="repair the survivors (notebook 07)", indent=False,
            disabled=not calibration, layout=widgets.Layout(width="354px", margin="0 0 0 76px"),
            tooltip=("refit the kept weights on the calibration images" if calibration
                     else "needs calibration images: explore(net, test, calibration=...)"))
        self.fine_tune_button = widgets.Button(
            description=f"fine-tune {FINE_TUNE_EPOCHS} epoch", icon="refresh", disabled=not train,
            layout=widgets.Layout(width="176px", margin="0 0 0 76px"),
            tooltip=(f"retrain the pruned network shown for {FINE_TUNE_EPOCHS} epoch (notebook 04 uses two), pruned "
                     "weights held at zero; the trained network is untouched" if train else
                     "needs the training split: explore(net, test, train=train)"))
        self.cancel_button = widgets.Button(description="cancel", icon="stop", disabled=True,
                                            layout=widgets.Layout(width="84px"))
        self.progress = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(width="86px"))
        self.tune_status = widgets.HTML(layout=widgets.Layout(width="354px", margin="0 0 0 76px"))
        self.pin_button = widgets.ToggleButton(value=False, description="pin this setting", icon="thumb-tack",
                                               tooltip="keep this setting beside the current one, for comparison",
                                               layout=widgets.Layout(width="150px", margin="0 0 0 76px"))
        self.readout = widgets.HTML(layout=widgets.Layout(width="430px", min_height="190px"))  # no jump when estimated
        self.pinned_readout = widgets.HTML(layout=widgets.Layout(width="430px"))
        fit = dict(max_width="100%", height="auto")  # shrinks on a narrow page, keeps its proportions
        self.histograms, self.pixels, self.digits, self.curve_image = (
            widgets.Image(format="png", layout=widgets.Layout(**fit)) for _ in range(4))
        for widget, css in [(self.k_slider, "pm-k"), (self.per_layer_box, "pm-per-layer"),
                            (self.fill_button, "pm-fill"), (self.method_buttons, "pm-method"),
                            (self.scope_buttons, "pm-scope"), (self.criterion_dropdown, "pm-criterion"),
                            (self.repair_box, "pm-repair"), (self.fine_tune_button, "pm-fine-tune"),
                            (self.cancel_button, "pm-cancel"), (self.progress, "pm-progress"),
                            (self.tune_status, "pm-tune-status"), (self.pin_button, "pm-pin"),
                            (self.readout, "pm-readout"), (self.pinned_readout, "pm-pinned"),
                            (self.histograms, "pm-histograms"), (self.pixels, "pm-pixels"),
                            (self.digits, "pm-digits"), (self.curve_image, "pm-curve")]:
            widget.add_class(css)
        for i, layer_slider in enumerate(self.layer_sliders.values(), start=1):
            layer_slider.add_class("pm-layer-k")
            layer_slider.add_class(f"pm-layer-k{i}")
        row = dict(flex_flow="row wrap", align_items="flex-start", grid_gap="4px 16px")
        tuning = widgets.HBox([self.fine_tune_button, self.cancel_button, self.progress],
                              layout=widgets.Layout(align_items="center"))
        self.panel = widgets.VBox([
            widgets.HTML(PANEL_CSS, layout=widgets.Layout(display="none")),
            widgets.HBox([widgets.VBox([self.k_slider, self.per_layer_box, self.layer_box, self.method_buttons,
                                        self.scope_buttons, self.criterion_dropdown, self.repair_box, tuning,
                                        self.tune_status, self.pin_button, self.readout, self.pinned_readout]),
                          self.curve_image], layout=widgets.Layout(**row)),
            self.histograms,
            widgets.HBox([self.pixels, self.digits], layout=widgets.Layout(**row, align_content="flex-start")),
        ])
        self.panel.add_class("pm-explorer")

    @property
    def inputs(self) -> list[widgets.ValueWidget]:
        """The controls whose value chooses the setting shown."""
        return [self.k_slider, self.per_layer_box, *self.layer_sliders.values(), self.method_buttons,
                self.scope_buttons, self.criterion_dropdown, self.repair_box]

    # controls as attributes -------------------------------------------------------------------
    k = property(lambda self: self.k_slider.value, lambda self, value: setattr(self.k_slider, "value", value))
    method = property(lambda self: self.method_buttons.value,
                      lambda self, value: setattr(self.method_buttons, "value", value))
    scope = property(lambda self: self.scope_buttons.value,
                     lambda self, value: setattr(self.scope_buttons, "value", value))
    criterion = property(lambda self: self.criterion_dropdown.value,
                         lambda self, value: setattr(self.criterion_dropdown, "value", value))
    repair = property(lambda self: self.repair_box.value, lambda self, value: setattr(self.repair_box, "value", value))
    per_layer = property(lambda self: self.per_layer_box.value,
                         lambda self, value: setattr(self.per_layer_box, "value", value))

    @property
    def layer_k(self) -> dict[str, float]:
        """{hidden layer name: k} of the per-layer sliders (used when `per_layer` is on)."""
        return {name: slider.value for name, slider in self.layer_sliders.items()}

    def _setting(self) -> Setting:
        """The setting the controls show."""
        ks = tuple(round(float(k), 1) for k in self.layer_k.values()) if self.per_layer else int(self.k)
        scope = "layer" if self.method == "unit" or self.per_layer else self.scope
        return Setting(self.method, scope, self.criterion, bool(self.repair), ks)

    def _sync_controls(self) -> None:
        """The criteria offered, the scope and the per-layer sliders as the method and the mode allow."""
        layer_wise = self.method == "unit" or self.per_layer
        updating, self._updating = self._updating, True
        try:
            # what is shown: a disabled control must not say "global"; the choice comes back with the control
            self.scope_buttons.value = "layer" if layer_wise else self._scope_chosen
            self.scope_buttons.disabled = layer_wise
            self.layer_box.layout.display = "flex" if self.per_layer else "none"
            options = self._criteria(self.method, "layer" if layer_wise else self.scope)
            if list(self.criterion_dropdown.options) != options:
                keep = self.criterion if self.criterion in options else options[0]
                self.criterion_dropdown.options = options
                self.criterion_dropdown.value = keep
        finally:
            self._updating = updating

    def _set_layers(self, ks: Mapping[str, float]) -> None:
        """Move the per-layer sliders without showing anything (the caller shows the result once)."""
        updating, self._updating = self._updating, True
        try:
            for name, k in ks.items():
                self.layer_sliders[name].value = k
        finally:
            self._updating = updating

    def _stale(self, stale: bool) -> None:
        """Dim the pictures while they show another setting than the readout (an estimate, or drawing)."""
        for image in (self.histograms, self.pixels, self.digits):
            (image.add_class if stale else image.remove_class)("pm-stale")

    def _ipython_display_(self):
        from IPython.display import display
        display(self.panel)


class Explorer(Controls):
    """An ipywidgets panel to prune `net` at any k and see the result.

    Args:
        net: the trained network (never modified).
        test: the split to evaluate on: the test set (the readout says so).
        digits: how many changed digits to show.
        method, k: where the controls start.
        calibration: a Split from the training split (or its images alone), for the data-aware criteria and the
            repair; "taylor" and the per-layer fill need the labels too (a Split). None offers only the criteria
            that need no data, and no repair.
        train: the training split, for the fine-tune button (None: the button is disabled).
        validation: the validation split, for the fill of the per-layer sliders (None: the button is disabled).
        cache_size: how many settings the cache keeps (the least recently shown are dropped).

    Its parts: `engine` (the numbers and the caches), `figures`, `facts` (for the readout), `job` (the fine-tune).
    """

    def __init__(self, net: nn.Module, test: Split, digits: int = 8, method: str = "weight", k: int = 0,
                 calibration: Split | torch.Tensor | None = None, train: Split | None = None,
                 validation: Split | None = None, cache_size: int = CACHE_SIZE):
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 1:
            raise ValueError(f"cache_size must be a positive integer, got {cache_size!r}")
        for name, split in (("train", train), ("validation", validation)):
            if split is not None and not isinstance(split, Split):
                raise ValueError(f"{name} must be a Split (images and labels) of the {name} set, "
                                 f"got {type(split).__name__}")
        self.net, self.test, self.train, self.validation, self.cache_size, self.n_digits = (
            net, test, train, validation, cache_size, digits)
        self.engine = engine = Engine(net, test, digits, calibration, cache_size)
        self.baseline_accuracy, self.total_weights, self.curve, self.tuned, self.estimate_indices = (
            engine.baseline_accuracy, engine.total_weights, engine.curve, engine.tuned, engine.estimate_indices)
        self.facts = readout.Facts(engine.baseline_accuracy, engine.total_weights, len(engine.labels),
                                   tuple(engine.layers))
        self.figures = Figures(net, test.images, engine.curve, engine.baseline_accuracy, k, digits)
        self.pinned: Point | None = None
        self.estimate: float | None = None  # the last estimate shown while dragging (None once exact)
        self._lock = threading.RLock()  # the fine-tune's thread writes the readout too
        self._pending = None  # the exact computation that follows an estimate (a loop handle)
        self._last_sent = -math.inf  # when the last slider value from the browser was handled
        self._filled = False  # the per-layer sliders hold the fill's allocation (the main slider re-allocates)
        self.job = FineTuneJob(on_step=lambda step: setattr(self.progress, "value", step), on_end=self._tuned)
        super().__init__(engine.layers, method, k, engine.criteria,
                         engine.calibration is not None, train is not None, validation is not None)
        for control in self.inputs:
            control.observe(self._on_change, names="value")
        self.pin_button.observe(self._on_pin, names="value")
        self.fill_button.on_click(lambda _: self.fill())
        self.fine_tune_button.on_click(lambda _: self.fine_tune())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.result: Point = self._show()

    _cache = property(lambda self: self.engine.points, doc="The points kept (an `LRUCache`), least recently shown first.")

    @Controls.layer_k.setter
    def layer_k(self, ks: Mapping[str, float]) -> None:
        unknown = set(ks) - set(self.layer_sliders)
        if unknown:
            raise ValueError(f"no hidden layer named {sorted(unknown)}; the layers are {list(self.layer_sliders)}")
        self._set_together(lambda: [setattr(self.layer_sliders[name], "value", k) for name, k in ks.items()])

    @property
    def tuning(self) -> bool:
        """Whether a fine-tune is running."""
        return self.job.running

    def pin(self) -> Point:
        """Keep the setting shown now beside the current one (in the readout and on the curve); return it."""
        self.pin_button.value = True
        return self.pinned

    def unpin(self) -> None:
        """Drop the pinned setting."""
        self.pin_button.value = False

    def settle(self) -> Point:
        """Show the exact figures now if an estimate is on screen (the kernel does it itself when dragging stops)."""
        if self._pending is not None:
            self.result = self._show()
        return self.result

    def point(self, method: str, scope: str, k: int | Mapping[str, int], criterion: str | None = None,
              repaired: bool = False) -> Point:
        """The (cached) numbers and pictures for one setting (criterion None: the method's default; `k` may be
        {hidden layer name: k})."""
        setting = self.engine.setting(method, scope, k, criterion, repaired)
        with self._lock:
            point, pruned = self.engine.numbers(setting)
            if not point.images:
                self._draw(point, pruned)
        return point

    def _draw(self, point: Point, pruned: nn.Module) -> None:
        """Render the point's pictures and keep it in the cache."""
        point.images.update(self.figures.draw(point, pruned))
        self.engine.keep(point)

    # showing it ---------------------------------------------------------------------------------
    def _show_estimate(self, setting: Setting) -> None:
        """The readout and the curve's ring while the handle moves: estimated on `ESTIMATE_IMAGES` test images."""
        with self._lock:
            k, accuracy, error = self.engine.estimate(setting)
            self.estimate = accuracy
            self._stale(True)
            self.readout.value = readout.estimate_html(setting, k, accuracy, error, len(self.estimate_indices),
                                                       self.facts.layers)
            if self.pinned is not None:
                self.pinned_readout.value = readout.pinned_estimate_html(accuracy, self.pinned, self.facts.layers)
            self.figures.curve.place_marks(k, accuracy, self.pinned, estimated=True)
            show_png(self.curve_image, self.figures.curve.png())

    def _show(self) -> Point:
        """Show the setting of the controls exactly: the readout first, then the pictures."""
        with self._lock:
            if self._pending is not None:
                self._pending.cancel()
                self._pending = None
            self.estimate = None
            point, pruned = self.engine.numbers(self._setting())
            if not point.images:
                self._stale(True)  # the readout goes first; the pictures follow
            self._write_readout(point)
            if not point.images:
                self._draw(point, pruned)
            show_png(self.histograms, point.images["histograms"])
            show_png(self.pixels, point.images["pixels"])
            show_png(self.digits, point.images["digits"])
            if self.pinned is None:
                self.figures.curve.ring_label.set_text("the setting shown")
                show_png(self.curve_image, point.images["curve"])
            else:  # the curve with both marks, drawn now: the cached picture has no pin
                self.figures.curve.place_marks(point.k, point.accuracy, self.pinned)
                show_png(self.curve_image, self.figures.curve.png())
            self._stale(False)
            return point

    def _write_readout(self, point: Point) -> None:
        tuned = self.tuned.get(point.key)
        self.readout.value = readout.readout_html(point, self.facts, tuned)
        self.pinned_readout.value = readout.pinned_html(point, self.pinned, self.facts, tuned)

    # events -------------------------------------------------------------------------------------
    def _set_together(self, change: Callable[[], object]) -> None:
        """Make several control changes and show the result once."""
        self._updating = True
        try:
            change()
        finally:
            self._updating = False
        self._on_change(None)

    def _on_change(self, change) -> None:
        if self._updating:  # the criteria offered changed with the method or scope: one update, not two
            return
        owner = None if change is None else change["owner"]
        if owner in self.layer_sliders.values() and abs(change["new"] - change["old"]) < LAYER_K_STEP / 2:
            return  # the browser's slider echoing a value set here, on its own grid of steps (77.7 as 77.699…)
        if owner in self.layer_sliders.values() or owner is self.per_layer_box:
            self._filled = False  # a hand-set k per layer, or the mode switched: no longer the fill's allocation
        if owner is self.scope_buttons and not self.scope_buttons.disabled:
            self._scope_chosen = self.scope
        if self.per_layer and (owner in (self.per_layer_box, self.k_slider) or
                               self._filled and owner in (self.method_buttons, self.criterion_dropdown)):
            # the layers start where the main slider is, and follow it: uniformly, or re-allocated after a fill
            self._set_layers(self._allocation() if self._filled else {name: self.k for name in self.layer_sliders})
        self._sync_controls()
        setting = self._setting()
        loop = _running_loop()
        sent = (owner in (self.k_slider, *self.layer_sliders.values())
                and bool(getattr(owner, "_property_lock", None)))  # a slider's value from the browser
        # A value right after another one (the browser sends the newest as soon as the kernel is idle again) means
        # the handle is moving: an estimate on a subset now, the exact figures once no new value came for
        # SETTLE_SECONDS. A value after a rest (a typed one, the first of a drag) is shown exactly at once.
        moving = self._pending is not None or time.perf_counter() - self._last_sent < MOVING_SECONDS
        if sent and moving and loop is not None and setting not in self._cache and not setting.repaired:
            self._show_estimate(setting)
            if self._pending is not None:
                self._pending.cancel()
            self._pending = loop.call_later(SETTLE_SECONDS, self._settled)
        else:
            self.result = self._show()
        if sent:
            self._last_sent = time.perf_counter()

    def _settled(self) -> None:
        self._pending = None
        self.result = self._show()

    def _on_pin(self, change) -> None:
        self.pinned = self.result if change["new"] else None
        self.pin_button.description = "unpin" if self.pinned is not None else "pin this setting"
        self.result = self._show()

    # per-layer allocation and fine-tuning ---------------------------------------------------------
    def _allocation(self) -> dict[str, float]:
        """Notebook 06's per-layer k for the main slider's k (`Engine.allocation`), with a status line while the
        sensitivity curves are measured (once per method and criterion)."""
        method, criterion = self.method, self.engine.allocation_criterion(self.method, self.criterion)
        if (method, criterion) in self.engine.sensitivity:
            return self.engine.allocation(self.validation, method, criterion, self.k)
        before = self.tune_status.value
        self.tune_status.value = f"measuring the sensitivity curves of {method} pruning ({criterion}) on the " \
                                 "validation split …"
        try:
            return self.engine.allocation(self.validation, method, criterion, self.k)
        finally:
            self.tune_status.value = before

    def fill(self) -> dict[str, float]:
        """Set the per-layer sliders to notebook 06's allocation for the k of the main slider (k% of the hidden
        layers' weights, or units, removed in all), switch the per-layer mode on, and return the ks.

        The allocation (`experiments.allocate`) comes from one-layer-at-a-time sensitivity curves
        (`experiments.sensitivity`) measured on the validation split, for the method and criterion chosen; each k
        is rounded to the sliders' step of 0.1%. Until a layer's slider is moved by hand, the main slider, the method and
        the criterion then re-allocate them (without a fill the main slider moves them all to its k).
        """
        if self.validation is None:
            raise ValueError("the fill needs the validation split: explore(net, test, validation=validation)")
        self.fill_button.disabled = True
        try:
            ks = self._allocation()

            def change():
                self.per_layer_box.value = True
                self._set_layers(ks)
            self._set_together(change)
            self._filled = True
        finally:
            self.fill_button.disabled = False
        return ks

    def fine_tune(self, wait: bool = False) -> threading.Thread:
        """Fine-tune the pruned network shown for `FINE_TUNE_EPOCHS` epoch in a background thread (pruned weights
        held at zero, `experiments.fine_tune`), with the progress bar; the readout then shows the test accuracy
        beside the one-shot one. The trained network and the cache are untouched. `wait`: return when done."""
        if self.train is None:
            raise ValueError("fine-tuning needs the training split: explore(net, test, train=train)")
        if self.tuning:
            raise RuntimeError("a fine-tune is running: wait for it or press cancel")
        self.settle()
        setting = self._setting()
        start, masks = self.engine.pruned(setting)
        recipe = tune_recipe()
        self.progress.max = tune_steps(self.train, recipe)
        self.progress.value = 0
        self.fine_tune_button.disabled, self.cancel_button.disabled = True, False
        what = readout.tune_what(self.result)
        self.tune_status.value = f"fine-tuning {what} …"
        self._tune_of = setting, what  # what the running fine-tune started from
        thread = self.job.start(start, masks, self.train, recipe, self.engine.accuracy)
        if wait:
            thread.join()
        return thread

    def cancel(self) -> None:
        """Stop a running fine-tune within `tune.TUNE_EVERY` steps; nothing it computed is kept."""
        self.job.cancel()

    def _tuned(self, accuracy: float | None, cancelled_at: int | None, error: Exception | None) -> None:
        """The end of a fine-tune (in its thread): keep and show the accuracy, or say why there is none."""
        setting, what = self._tune_of
        with self._lock:
            if accuracy is not None:
                self.tuned.put(setting, accuracy)
                status = f"fine-tuned {what}: {100 * accuracy:.2f}% on the test images"
                self.progress.value = self.progress.max
            elif cancelled_at is not None:
                status = f"cancelled at step {cancelled_at} of {self.progress.max}: nothing kept"
            else:
                status = f"the fine-tune failed: {type(error).__name__}: {error}"
            self.tune_status.value = status
            self.fine_tune_button.disabled, self.cancel_button.disabled = False, True
            if self.result.key == self._setting() and self._pending is None:
                self._write_readout(self.result)  # shows the fine-tuned accuracy if this setting is on screen


def explore(net: nn.Module, test: Split, method: str = "weight", k: int = 0,
            calibration: Split | torch.Tensor | None = None, train: Split | None = None,
            validation: Split | None = None) -> Explorer:
    """Build the explorer for `net` on `test`, starting at `method` and `k`; display the returned object.

    `calibration` (images from the training split, e.g. `helpers.criteria.calibration(train)`) adds the
    data-aware criteria and the repair switch; `validation` the fill of the per-layer sliders from the
    sensitivity curves; `train` the fine-tune button.

    Used in 02_weight_pruning, 03_unit_pruning, 07_repair and the app.
    """
    return Explorer(net, test, method=method, k=k, calibration=calibration, train=train, validation=validation)
