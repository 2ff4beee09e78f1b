"""The explorer's fine-tune job: one epoch of `experiments.fine_tune` in a background thread, with progress and
a cancel flag that stops it within `TUNE_EVERY` steps."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import torch
from torch import nn

from helpers.data import Split
from helpers.experiments import FINE_TUNE, fine_tune
from helpers.training import RECIPE

#: Epochs of the fine-tune button (the recipe is `experiments.FINE_TUNE`'s, which notebook 04 runs for two).
FINE_TUNE_EPOCHS = 1
#: Training steps between two moves of the fine-tune's progress bar (and two looks at its cancel button).
TUNE_EVERY = 5


class Cancelled(Exception):
    """Raised inside a fine-tune's training loop when its cancel button was pressed; args[0] is the step."""


def tune_recipe() -> dict:
    """`experiments.FINE_TUNE`'s recipe for `FINE_TUNE_EPOCHS` epochs."""
    return {**FINE_TUNE, "epochs": FINE_TUNE_EPOCHS}


def tune_steps(train: Split, recipe: dict) -> int:
    """The training steps of a fine-tune with `recipe` on `train` (the progress bar's end).

    >>> tune_steps(Split(torch.zeros(300, 784), torch.zeros(300).long()), {"epochs": 1, "batch_size": 128})
    3
    """
    return recipe["epochs"] * math.ceil(len(train) / recipe.get("batch_size", RECIPE["batch_size"]))


class FineTuneJob:
    """Fine-tunes in a background thread, one run at a time, and reports how it ended.

    Args:
        on_step: called with the step every `TUNE_EVERY` steps (the progress bar).
        on_end: called once from the thread with (accuracy, cancelled at step, error): the test accuracy of the
            fine-tuned network when it finished; else the step it was cancelled at, or the error it failed with.
    """

    def __init__(self, on_step: Callable[[int], None],
                 on_end: Callable[[float | None, int | None, Exception | None], None]):
        self.on_step, self.on_end = on_step, on_end
        self.thread: threading.Thread | None = None
        self._cancel = threading.Event()

    @property
    def running(self) -> bool:
        """Whether a fine-tune is running."""
        return self.thread is not None and self.thread.is_alive()

    def start(self, start: nn.Module, masks: dict[str, torch.Tensor], train: Split, recipe: dict,
              evaluate: Callable[[nn.Module], float]) -> threading.Thread:
        """Fine-tune `start` (pruned by `masks`, held at zero) on `train` with `recipe`, then `evaluate` it."""
        if self.running:
            raise RuntimeError("a fine-tune is running: wait for it or press cancel")
        self._cancel.clear()
        self.thread = threading.Thread(target=self._run, args=(start, masks, train, recipe, evaluate), daemon=True,
                                       name="explorer fine-tune")
        self.thread.start()
        return self.thread

    def cancel(self) -> None:
        """Stop a running fine-tune within `TUNE_EVERY` steps; nothing it computed is kept."""
        self._cancel.set()

    def step(self, step: int) -> None:
        """The training loop's callback: stop here if cancelled, else report the step."""
        if self._cancel.is_set():
            raise Cancelled(step)
        self.on_step(step)

    def _run(self, start, masks, train, recipe, evaluate) -> None:
        try:
            tuned, _ = fine_tune(start, masks, train, callback=lambda step, _: self.step(step), every=TUNE_EVERY,
                                 **recipe)
            with torch.no_grad():
                outcome = evaluate(tuned), None, None
        except Cancelled as stop:
            outcome = None, stop.args[0], None
        except Exception as error:  # shown, not lost in a thread
            outcome = None, None, error
        self.on_end(*outcome)
