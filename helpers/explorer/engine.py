"""The explorer's numbers, without widgets: the point of a setting, the estimate while dragging, the per-layer fill.

Everything it computed is kept in bounded least-recently-used caches (`LRUCache`); the network is never modified.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

import torch
from torch import nn

from helpers.config import K_LIST
from helpers.criteria import CRITERIA, DATA_AWARE, GLOBAL_ONLY, NEEDS_LABELS  # NEEDS_LABELS: a loss, not only images
from helpers.data import Split
from helpers.experiments import SENSITIVITY_KS, allocate, sensitivity, sweep
from helpers.explorer.setting import Setting
from helpers.pruning import METHODS, Ranking, apply_masks, check_k, compact, compression, prunable_layers, rank, \
    weights_kept
from helpers.repair import repair

#: The kinds of changed prediction, each with its mark and colour.
CHANGE_STYLES = {"break": ("✗", "#c62828"), "fix": ("✓", "#2e7d32"), "other": ("~", "#616161")}
#: Points kept in the cache, the least recently shown dropped first: about 0.5 MB of pictures each, so an hour
#: of dragging stays within a few tens of MB.
CACHE_SIZE = 64
#: Test images (a fixed random subset) that the estimates shown while the handle is dragged are measured on.
ESTIMATE_IMAGES = 1_000
#: Rankings kept (one sort of a network's scores per method, scope and criterion; about 19 MB each for weights).
RANKINGS_KEPT = 6
#: The per-layer sliders' step and largest k: the fill's allocation goes beyond 99% in the large layers.
LAYER_K_STEP, LAYER_K_MAX = 0.1, 99.9

Key = TypeVar("Key")
Value = TypeVar("Value")


class LRUCache(Mapping, Generic[Key, Value]):
    """A mapping that keeps the `size` entries used last: `use` and `put` make an entry the most recent; reading it
    as a mapping (`cache[key]`, `in`, iteration, oldest first) changes nothing.

    >>> cache = LRUCache(2)
    >>> cache.put("a", 1); cache.put("b", 2); cache.use("a"); cache.put("c", 3)
    1
    >>> list(cache), cache.use("b")
    (['a', 'c'], None)
    """

    def __init__(self, size: int):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        self.size = size
        self._items: OrderedDict[Key, Value] = OrderedDict()

    def __getitem__(self, key: Key) -> Value:
        return self._items[key]

    def __iter__(self) -> Iterator[Key]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def use(self, key: Key) -> Value | None:
        """The value of `key`, now the most recently used, or None when it is not kept."""
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key: Key, value: Value) -> None:
        """Keep `value` as the most recently used; the least recently used entry goes beyond `size`."""
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class ChangedDigit(NamedTuple):
    """A digit whose prediction pruning changed: where it is, what kind of change, and the three classes."""

    index: int
    kind: str  # "break", "fix" or "other" (see classify_changes)
    true: int
    unpruned: int
    pruned: int

    @property
    def caption(self) -> str:
        """E.g. "✗ break\\n7 / 7→2": the mark, the kind, then true / unpruned → pruned."""
        return f"{CHANGE_STYLES[self.kind][0]} {self.kind}\n{self.true} / {self.unpruned}→{self.pruned}"


@dataclass(frozen=True)
class Point:
    """What the explorer shows for one setting: (method, scope, k), the criterion and whether the survivors were
    repaired. With one k per hidden layer (`layer_k`), `k` is the percentage of the hidden layers' weights (units
    for unit pruning) pruned in all, which places the point on the curve.

    Attributes:
        accuracy, weights_kept, compression: as `experiments.sweep` measures them,
            on the split the explorer was given (the test set in the notebooks);
            compression is `pruning.compression`: all weights / weights kept.
        units_alive: per layer, the units with a nonzero weight row.
        changes: how many digits changed their prediction, by kind (see
            `classify_changes`); "fix" - "break" is the change in correct digits.
        shown: the changed digits on display.
        images: rendered PNG pictures, by name.
        layer_k: the k of each hidden layer, or None when one k holds for all.
        key: the setting (`Setting`), the explorer's cache key.
    """

    method: str
    scope: str
    k: float
    criterion: str
    repaired: bool
    accuracy: float
    weights_kept: int
    compression: float
    units_alive: dict[str, int]
    changes: dict[str, int]
    shown: list[ChangedDigit]
    images: dict[str, bytes]
    layer_k: tuple[float, ...] | None = None
    key: Setting | None = None
    correct: torch.Tensor | None = field(default=None, repr=False, compare=False)  # per image: right or not


def classify_changes(labels: torch.Tensor, before: torch.Tensor, after: torch.Tensor) -> dict[str, torch.Tensor]:
    """Indices of the examples whose prediction changed, by kind: "break", "fix" or "other".

    A break was right before and is wrong after; a fix was wrong before and is
    right after; "other" was wrong before and is wrong after, as another class.
    So `len(fix) - len(break)` is the change in the number of right predictions.

    Args:
        labels: the true classes, shape [N].
        before, after: the classes predicted by the unpruned and the pruned network, shape [N].

    Raises:
        ValueError: when the three are not vectors of one length.

    >>> kinds = classify_changes(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 0, 3, 0]), torch.tensor([0, 2, 3, 5]))
    >>> {kind: indices.tolist() for kind, indices in kinds.items()}
    {'break': [0], 'fix': [1], 'other': [3]}

    Used in 02_weight_pruning and 03_unit_pruning (the explorer's changed digits).
    """
    if not labels.shape == before.shape == after.shape or labels.dim() != 1:
        raise ValueError(f"labels and predictions must be vectors of one length, got shapes "
                         f"{tuple(labels.shape)}, {tuple(before.shape)}, {tuple(after.shape)}")
    changed = before != after
    right_before, right_after = before == labels, after == labels
    return {kind: torch.nonzero(mask).flatten() for kind, mask in
            [("break", changed & right_before), ("fix", changed & right_after),
             ("other", changed & ~right_before & ~right_after)]}


def pick_shown(changes: Mapping[str, torch.Tensor], n: int) -> list[tuple[int, str]]:
    """Up to `n` of the changed examples, as (index, kind): half breaks and half fixes where both exist.

    When one kind has too few, the other fills in, then "other". Each kind in
    order of index, breaks first. Showing both lets a reader see that pruning
    also fixes some digits, however few.

    >>> pick_shown({"break": torch.arange(10), "fix": torch.tensor([20]), "other": torch.tensor([30])}, 4)
    [(0, 'break'), (1, 'break'), (2, 'break'), (20, 'fix')]
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    breaks, fixes, others = (changes[kind].tolist() for kind in ("break", "fix", "other"))
    n_fixes = min(len(fixes), max(n // 2, n - len(breaks)))
    n_breaks = min(len(breaks), n - n_fixes)
    n_others = min(len(others), n - n_breaks - n_fixes)
    return ([(i, "break") for i in breaks[:n_breaks]] + [(i, "fix") for i in fixes[:n_fixes]]
            + [(i, "other") for i in others[:n_others]])


class Engine:
    """The numbers behind the explorer for `net` on `test`: what a setting prunes and how it scores.

    Args:
        net: the trained network (never modified).
        test: the split to evaluate on.
        digits: how many changed digits a point shows.
        calibration: a Split from the training split, or its images alone, or None (see `Explorer`).
        cache_size: how many points (and fine-tuned accuracies) are kept.
    """

    def __init__(self, net: nn.Module, test: Split, digits: int = 8,
                 calibration: Split | torch.Tensor | None = None, cache_size: int = CACHE_SIZE):
        self.net, self.test, self.n_digits = net, test, digits
        self.device = next(net.parameters()).device
        images = calibration.images if isinstance(calibration, Split) else calibration
        self.calibration = None if images is None else images.to(self.device)
        # with labels too ("taylor" needs a loss, the fill an accuracy); an image tensor alone offers the others
        self.labelled = (Split(self.calibration, calibration.labels.to(self.device))
                         if isinstance(calibration, Split) else None)
        self.images, self.labels = test.images.to(self.device), test.labels.to(self.device)
        #: the fixed random subset of the test images that the estimates while dragging are measured on
        self.estimate_indices = torch.randperm(len(self.labels), generator=torch.Generator().manual_seed(0))[
            :ESTIMATE_IMAGES].to(self.device)
        with torch.no_grad():
            self.dense_predictions = net(self.images).argmax(1)
        self.baseline_accuracy = (self.dense_predictions == self.labels).sum().item() / len(self.labels)
        self.total_weights = sum(layer.weight.numel() for layer in net.modules() if isinstance(layer, nn.Linear))
        self.layers = prunable_layers(net)
        self.curve = sweep(net, test, K_LIST, METHODS)  # computed once: the curves the ring sits on
        self.points: LRUCache[Setting, Point] = LRUCache(cache_size)
        self.rankings: LRUCache[tuple[str, str, str], Ranking] = LRUCache(RANKINGS_KEPT)
        self.tuned: LRUCache[Setting, float] = LRUCache(cache_size)  # setting -> test accuracy after the fine-tune
        self.sensitivity: dict[tuple[str, str], object] = {}

    def criteria(self, method: str, scope: str) -> list[str]:
        """The criteria offered for `method` and `scope` (the data-aware ones only with calibration data)."""
        return [c for c in CRITERIA[method] if (c not in GLOBAL_ONLY or scope == "global")
                and (c not in DATA_AWARE[method] or self.calibration is not None)
                and (c not in NEEDS_LABELS or self.labelled is not None)]

    def data(self, method: str, criterion: str):
        """The calibration data a criterion scores with: labelled, images alone, or none."""
        return (self.labelled if criterion in NEEDS_LABELS else
                self.calibration if criterion in DATA_AWARE[method] else None)

    def setting(self, method: str, scope: str, k: int | Mapping[str, float] | tuple, criterion: str | None = None,
                repaired: bool = False) -> Setting:
        """The `Setting` of these values, checked (criterion None: the method's default; `k` may be {hidden layer
        name: k} or a tuple of one k per hidden layer, rounded to the sliders' step)."""
        if isinstance(k, Mapping):
            k = tuple(float(k.get(name, 0)) for name in self.layers)
        if isinstance(k, tuple):
            k = tuple(round(float(value), 1) for value in k)  # the sliders' step
            if len(k) != len(self.layers):
                raise ValueError(f"one k per hidden layer: {len(self.layers)} values, got {len(k)}")
            scope = "layer"
        for value in k if isinstance(k, tuple) else (k,):
            check_k(value)
        if repaired and self.calibration is None:
            raise ValueError("repair needs calibration images: explore(net, test, calibration=calibration(train))")
        scope = scope if method == "weight" else "layer"
        return Setting(method, scope, criterion or CRITERIA[method][0], bool(repaired),
                       k if isinstance(k, tuple) else int(k))

    def masks(self, setting: Setting) -> dict[str, torch.Tensor]:
        """The masks of a setting, cut from its ranking (sorted once per method, scope and criterion)."""
        which = setting.method, setting.scope, setting.criterion
        ranking = self.rankings.use(which)
        if ranking is None:  # sort once per setting, cut at every k
            with torch.enable_grad():  # Taylor scores are gradients
                ranking = rank(self.net, *which[:2], criterion=setting.criterion,
                               data=self.data(setting.method, setting.criterion))
            self.rankings.put(which, ranking)
        return ranking.masks(dict(zip(self.layers, setting.k)) if setting.per_layer else setting.k)

    def overall_k(self, setting: Setting, masks: Mapping[str, torch.Tensor]) -> float:
        """The percentage of the hidden layers' weights (or units) pruned: k itself unless k differs per layer."""
        if not setting.per_layer:
            return setting.k
        if setting.method == "unit":
            removed = sum(int((~mask.any(dim=1)).sum()) for mask in masks.values())
            return 100 * removed / sum(layer.weight.shape[0] for layer in self.layers.values())
        return 100 * sum(int((~mask).sum()) for mask in masks.values()) / sum(mask.numel() for mask in masks.values())

    def pruned(self, setting: Setting) -> tuple[nn.Module, dict[str, torch.Tensor]]:
        """The pruned network of a setting (repaired if it says so) and its masks; the network is untouched."""
        masks = self.masks(setting)
        pruned = apply_masks(self.net, masks)
        if setting.repaired:
            with torch.enable_grad():
                pruned = repair(self.net, pruned, self.calibration)
        return pruned, masks

    def accuracy(self, net: nn.Module) -> float:
        """`net`'s accuracy on the test split."""
        with torch.no_grad():
            return (net(self.images).argmax(1) == self.labels).sum().item() / len(self.labels)

    @torch.no_grad()
    def numbers(self, setting: Setting) -> tuple[Point, nn.Module | None]:
        """The point of `setting` (from the cache, the most recently used now) or its numbers alone, pictures to
        draw (with the pruned network to draw them from); `keep` it once drawn."""
        cached = self.points.use(setting)
        if cached is not None:
            return cached, None
        pruned, masks = self.pruned(setting)
        small = compact(pruned)  # the same function, faster: what sweep() evaluates and counts
        predictions = small(self.images).argmax(1)
        accuracy = (predictions == self.labels).sum().item() / len(self.labels)
        changes = classify_changes(self.labels, self.dense_predictions, predictions)
        shown = [ChangedDigit(i, kind, int(self.labels[i]), int(self.dense_predictions[i]), int(predictions[i]))
                 for i, kind in pick_shown(changes, self.n_digits)]
        units = {name: int(layer.weight.any(dim=1).sum())
                 for name, layer in prunable_layers(pruned, include_output=True).items()}
        point = Point(setting.method, setting.scope, self.overall_k(setting, masks), setting.criterion,
                      setting.repaired, accuracy, weights_kept(small), compression(small, self.total_weights), units,
                      {kind: len(indices) for kind, indices in changes.items()}, shown, {}, setting.layer_k, setting,
                      predictions == self.labels)
        return point, pruned

    def keep(self, point: Point) -> None:
        """Keep a drawn point in the cache (the least recently shown goes beyond its size)."""
        self.points.put(point.key, point)

    @torch.no_grad()
    def estimate(self, setting: Setting) -> tuple[float, float, float]:
        """(k shown, estimated test accuracy, its standard error) of an unrepaired setting, from the fixed subset of
        `ESTIMATE_IMAGES` test images.

        The estimate is the unpruned accuracy on the whole test set plus the change pruning makes on the subset
        (a paired difference: at small k it is close, where the subset's own accuracy would be off by the
        subset's luck); its standard error is that of the mean per-image change, with two standard errors at least
        3/n (the rule of three: no change among n images still allows about 3/n in the whole set).
        """
        masks = self.masks(setting)
        pruned = apply_masks(self.net, masks)
        small = compact(pruned) if setting.method == "unit" else pruned  # compacting pays for unit pruning only
        subset, labels = self.images[self.estimate_indices], self.labels[self.estimate_indices]
        after = (small(subset).argmax(1) == labels).float()
        change = after - (self.dense_predictions[self.estimate_indices] == labels).float()
        error = change.std().item() / math.sqrt(len(change)) if len(change) > 1 else 0.0
        # no change among the subset does not mean none in the test set: two standard errors are at least 3/n
        error = max(error, 1.5 / len(change))
        return self.overall_k(setting, masks), self.baseline_accuracy + change.mean().item(), error

    def allocation_criterion(self, method: str, criterion: str) -> str:
        """The criterion the fill allocates with: the one chosen, or the method's default for a global-only one."""
        return criterion if criterion not in GLOBAL_ONLY else CRITERIA[method][0]

    def allocation(self, validation: Split, method: str, criterion: str, k: float) -> dict[str, float]:
        """Notebook 06's per-layer k for k% pruned in all, to the sliders' step (the one-layer-at-a-time curves on
        the validation split are measured once per method and criterion, `experiments.sensitivity`)."""
        criterion = self.allocation_criterion(method, criterion)
        if (method, criterion) not in self.sensitivity:
            with torch.enable_grad():
                self.sensitivity[method, criterion] = sensitivity(
                    self.net, validation, SENSITIVITY_KS[method], method, criterion,
                    calibration=self.data(method, criterion))
        sizes = {name: layer.weight.shape[0] if method == "unit" else layer.weight.numel()
                 for name, layer in self.layers.items()}
        budget = sum(sizes.values()) - round(k / 100 * sum(sizes.values()))
        return {name: min(round(k, 1), LAYER_K_MAX) for name, k in  # the sliders' step, 0.1
                allocate(self.sensitivity[method, criterion], budget).items()}
