"""helpers.model and helpers.training on small synthetic data."""

import signal
import subprocess
import sys

import pytest
import torch

from helpers.data import Split
from helpers.model import CheckpointError, architecture, load_checkpoint, make_mlp, save_checkpoint
from helpers.pruning import weight_masks
from helpers import training
from helpers.data import MNIST
from helpers.training import (RECIPE, RECIPES, baseline, baseline_path, evaluate, fit, initial_network, initial_path,
                              initial_weights, restart_network)


def toy_data(n=256, seed=0):
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 20, generator=generator)
    labels = (images[:, :5].argmax(1))
    return Split(images, labels)


def test_classic_architecture():
    net = make_mlp()
    shapes = [tuple(p.shape) for p in net.parameters()]
    assert shapes == [(1000, 784), (1000, 1000), (500, 1000), (200, 500), (10, 200)]
    assert sum(p.numel() for p in net.parameters()) == 2_386_000
    assert all(m.bias is None for m in net if isinstance(m, torch.nn.Linear))
    assert [type(m).__name__ for m in net] == ["Linear", "ReLU"] * 4 + ["Linear"]


@pytest.mark.parametrize("bad", [(0,), (-3, 4), (2.5,)])
def test_bad_widths(bad):
    with pytest.raises(ValueError, match="positive integers"):
        make_mlp(bad)


def test_checkpoint_round_trip(tmp_path):
    net = make_mlp((6, 4), inputs=20, classes=5)
    path = save_checkpoint(net, tmp_path / "a" / "net.pt", seed=3, test_accuracy=0.5)
    loaded, metadata = load_checkpoint(path, expected=[20, 6, 4, 5])
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), loaded.parameters()))
    assert metadata["seed"] == 3 and metadata["torch"] == torch.__version__
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_corrupt_checkpoint_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "net.pt"
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="net.pt is not a readable checkpoint"):
        load_checkpoint(path)
    assert path.read_bytes() == b"not a checkpoint at all"


def test_foreign_checkpoint_is_refused(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not a checkpoint of this project"):
        load_checkpoint(path)


def test_other_architecture_is_refused_and_left_alone(tmp_path):
    path = save_checkpoint(make_mlp((6,), inputs=20, classes=5), tmp_path / "net.pt")
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=r"architecture \[20, 6, 5\], expected \[784, 1000"):
        load_checkpoint(path, expected=architecture(make_mlp()))
    assert path.read_bytes() == before


def test_interrupted_save_leaves_the_old_checkpoint(tmp_path):
    """Kill a process in the middle of writing a big checkpoint: the old file survives intact."""
    path = tmp_path / "net.pt"
    save_checkpoint(make_mlp((6,), inputs=20, classes=5), path, seed=1)
    code = (
        "import sys, torch; from helpers.model import make_mlp, save_checkpoint\n"
        "import helpers.model as m\n"
        "def slow(obj, f):\n"
        "    f.write(b'partial'); f.flush(); print('writing', flush=True); import time; time.sleep(60)\n"
        "m.torch.save = slow\n"
        f"save_checkpoint(make_mlp((6,), inputs=20, classes=5), {str(path)!r}, seed=2)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    process.send_signal(signal.SIGKILL)
    process.wait()
    _, metadata = load_checkpoint(path)
    assert metadata["seed"] == 1


def test_fit_learns_and_reports_history():
    train, test = toy_data(512), toy_data(256, seed=1)
    torch.manual_seed(0)
    net = make_mlp((32,), inputs=20, classes=5)
    validation = toy_data(128, seed=2)
    history = fit(net, train, test, validation=validation, epochs=5, lr=0.1, batch_size=32, progress=False)
    assert list(history.columns) == ["epoch", "loss", "train_accuracy", "validation_accuracy", "test_accuracy",
                                     "seconds"]
    assert history["epoch"].tolist() == [1, 2, 3, 4, 5]
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    assert history["test_accuracy"].iloc[-1] == evaluate(net, test) > 0.6
    assert history["validation_accuracy"].iloc[-1] == evaluate(net, validation)
    assert fit(net, train, epochs=1, progress=False)[["validation_accuracy", "test_accuracy"]].isna().all().all()


def test_initial_network_is_the_baselines_start_and_restarts_never_are():
    first, again = initial_network(3, torch.device("cpu")), initial_network(3, torch.device("cpu"))
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), again.parameters()))
    # the baseline of seed 3 starts from exactly these weights, and the global RNG is left alone
    torch.manual_seed(3)
    assert all(torch.equal(a, b) for a, b in zip(make_mlp().parameters(), first.parameters()))
    state = torch.random.get_rng_state()
    restarts = [restart_network(first, seed) for seed in range(4)]
    assert torch.equal(state, torch.random.get_rng_state())
    starts = [initial_network(seed, torch.device("cpu")) for seed in range(4)]
    for restart in restarts:
        assert [p.shape for p in restart.parameters()] == [p.shape for p in first.parameters()]
        assert not any(torch.equal(next(restart.parameters()), next(start.parameters())) for start in starts)
    assert not torch.equal(next(restarts[0].parameters()), next(restarts[1].parameters()))


@pytest.mark.parametrize("seed", [-1, 2**31, 1.0, True])
def test_bad_seeds_are_refused(seed):
    with pytest.raises(ValueError, match="seed must be an integer"):
        initial_network(seed)
    with pytest.raises(ValueError, match="seed must be an integer"):
        baseline_path(seed)


def test_baseline_path_names_the_recipe():
    assert baseline_path(2, "no-l1").name == "baseline_no-l1_seed2.pt"
    assert RECIPES["no-l1"] == {**RECIPE, "l1": 0.0} and RECIPES["l1"] is RECIPE
    with pytest.raises(ValueError, match="recipe must be one of"):
        baseline_path(0, "l2")


def test_same_seed_same_weights():
    train = toy_data(300)
    nets = []
    for _ in range(2):
        torch.manual_seed(7)
        net = make_mlp((16, 8), inputs=20, classes=5)
        fit(net, train, epochs=2, lr=0.05, batch_size=50, seed=7, progress=False)
        nets.append(net)
    assert all(torch.equal(a, b) for a, b in zip(nets[0].parameters(), nets[1].parameters()))
    torch.manual_seed(7)
    other = make_mlp((16, 8), inputs=20, classes=5)
    fit(other, train, epochs=2, lr=0.05, batch_size=50, seed=8, progress=False)
    assert not torch.equal(other[0].weight, nets[0][0].weight)


def test_masks_survive_the_optimizer():
    """Pruned weights stay exactly zero after every step, momentum and weight decay included."""
    train = toy_data(300)
    torch.manual_seed(0)
    net = make_mlp((16, 8), inputs=20, classes=5)
    masks = weight_masks(net, 80)
    fit(net, train, epochs=3, lr=0.1, batch_size=16, momentum=0.9, weight_decay=1e-3, masks=masks, progress=False)
    for name, mask in masks.items():
        weight = net.get_submodule(name).weight
        assert (weight[~mask] == 0).all()
        assert (weight[mask] != 0).all()


@pytest.mark.parametrize("kwargs, message", [
    (dict(epochs=0), "epochs must be a positive integer, got 0"),
    (dict(epochs=1.5), "epochs must be a positive integer, got 1.5"),
    (dict(lr=0), "lr must be a positive number, got 0"),
    (dict(lr=-0.1), "lr must be a positive number, got -0.1"),
    (dict(lr=float("nan")), "lr must be a positive number, got nan"),
    (dict(batch_size=0), "batch_size must be a positive integer"),
    (dict(weight_decay=-1), "weight_decay must be >= 0"),
    (dict(momentum=1.0), "momentum must be in"),
    (dict(schedule="cosine"), "schedule must be 'one-cycle' or 'constant', got 'cosine'"),
    (dict(every=0), "every must be a positive integer"),
    (dict(distillation=1.5), r"distillation must be in [0, 1], got 1.5"),
    (dict(distillation=0.5), "needs the teacher's logits on every training image"),
    (dict(distillation=0.5, teacher=torch.zeros(3, 5)), "needs the teacher's logits on every training image"),
    (dict(temperature=0), "temperature must be a positive number"),
])
def test_fit_refuses_bad_arguments(kwargs, message):
    net = make_mlp((8,), inputs=20, classes=5)
    before = [p.clone() for p in net.parameters()]
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        fit(net, toy_data(), progress=False, **kwargs)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_fit_refuses_empty_dataset():
    empty = Split(torch.zeros(0, 20), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="training set is empty"):
        fit(make_mlp((8,), inputs=20, classes=5), empty, progress=False)


@pytest.mark.parametrize("n, batch_size, epochs", [(10, 128, 1), (10, 5, 1), (30, 10, 2), (40, 10, 1)])
def test_fit_works_with_very_few_steps(n, batch_size, epochs):
    net = make_mlp((8,), inputs=20, classes=5)
    history = fit(net, toy_data(n), epochs=epochs, batch_size=batch_size, progress=False)
    assert len(history) == epochs and history["loss"].notna().all()


@pytest.mark.parametrize("schedule", ["constant", "one-cycle"])
def test_a_constant_schedule_steps_with_the_full_learning_rate_from_the_first_step(schedule):
    net, data = make_mlp((8,), inputs=20, classes=5), toy_data(64)
    start = [p.detach().clone() for p in net.parameters()]
    loss = torch.nn.functional.cross_entropy(net(data.images), data.labels)
    gradients = torch.autograd.grad(loss, list(net.parameters()))
    first = {}
    fit(net, data, epochs=4, batch_size=64, lr=0.5, momentum=0, weight_decay=0, l1=0, schedule=schedule,
        progress=False, callback=lambda step, model: first.setdefault(step, [p.detach().clone() for p in model.parameters()]))
    # full batches: the first step moves by lr × gradient (constant) or lr / 25 × gradient (one-cycle's start)
    step = 0.5 if schedule == "constant" else 0.5 / 25
    for before, gradient, after in zip(start, gradients, first[1]):
        assert torch.allclose(after, before - step * gradient, atol=1e-6)


@pytest.mark.parametrize("distillation, temperature", [(0.5, 4.0), (1.0, 2.0)])
def test_distillation_steps_down_the_gradient_of_the_written_out_loss(distillation, temperature):
    torch.manual_seed(0)
    net, data = make_mlp((8,), inputs=20, classes=5), toy_data(64)
    teacher = 3 * torch.randn(64, 5)
    start = [p.detach().clone() for p in net.parameters()]
    # the loss written out: (1 - d) CE + d T² Σ p_teacher (log p_teacher - log p_student) / batch, at temperature T
    logits = net(data.images)
    p_teacher = torch.softmax(teacher / temperature, 1)
    kl = (p_teacher * (p_teacher.log() - torch.log_softmax(logits / temperature, 1))).sum() / len(teacher)
    loss = (1 - distillation) * torch.nn.functional.cross_entropy(logits, data.labels) + distillation * temperature**2 * kl
    gradients = torch.autograd.grad(loss, list(net.parameters()))
    fit(net, data, epochs=1, batch_size=64, lr=0.5, momentum=0, weight_decay=0, l1=0, schedule="constant",
        progress=False, teacher=teacher, distillation=distillation, temperature=temperature)
    for before, gradient, after in zip(start, gradients, net.parameters()):
        assert torch.allclose(after, before - 0.5 * gradient, atol=1e-6)


def test_the_callback_sees_every_nth_step_with_the_masks_applied():
    net, data = make_mlp((8,), inputs=20, classes=5), toy_data(100)
    masks = weight_masks(net, 60)
    seen = []

    def callback(step, model):
        seen.append(step)
        assert (model[0].weight[~masks["0"]] == 0).all()
        model.eval()  # fit puts the network back into training mode after the callback

    fit(net, data, epochs=2, batch_size=10, masks=masks, callback=callback, every=3, progress=False)
    assert seen == [0, 3, 6, 9, 12, 15, 18]


def test_baseline_saves_its_initial_weights_once_and_never_overwrites_them(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNING_MNIST_HOME", str(tmp_path))
    trained_from = []

    def quick(seed, train, validation=None, progress=True, device=None, **recipe):  # the training is not under test
        trained_from.append(initial_network(seed, device))
        return trained_from[-1], fit(trained_from[-1], train, epochs=1, progress=False)

    monkeypatch.setattr(training, "train_baseline", quick)
    split = Split(torch.randn(5000, 784), torch.randint(0, 10, (5000,)))
    data = MNIST(split, split, split)
    baseline(7, data=data, progress=False)
    saved = initial_weights(7, device=torch.device("cpu"))
    assert all(torch.equal(a, b) for a, b in zip(saved.parameters(), initial_network(7).parameters()))
    written, stamp = initial_path(7).read_bytes(), initial_path(7).stat().st_mtime_ns
    baseline(7, data=data, progress=False, retrain=True)
    assert initial_path(7).read_bytes() == written and initial_path(7).stat().st_mtime_ns == stamp
    assert initial_path(7).name == "baseline_l1_seed7_init.pt" and initial_path(7).parent == baseline_path(7).parent


def _momenta(monkeypatch, **kwargs) -> list[float]:
    seen = []
    original = torch.optim.SGD.step

    def step(self, *args, **kw):
        seen.append(self.param_groups[0]["momentum"])
        return original(self, *args, **kw)

    monkeypatch.setattr(torch.optim.SGD, "step", step)
    fit(make_mlp((8,), inputs=20, classes=5), toy_data(400), epochs=2, batch_size=20, progress=False, **kwargs)
    return seen


def test_the_recipe_momentum_is_the_cycle_the_optimizer_runs(monkeypatch):
    """RECIPE's (high, low) pair is what SGD uses: high at the first and last step, low at the peak learning rate."""
    from helpers.training import RECIPE

    high, low = RECIPE["momentum"]
    seen = _momenta(monkeypatch)
    assert len(seen) == 40
    assert seen[0] == pytest.approx(high) and min(seen) == pytest.approx(low) and seen[-1] == pytest.approx(high, abs=1e-3)
    assert seen.index(min(seen)) == 9  # the peak of the learning rate: the 10th of 40 steps (pct_start 0.25)


def test_a_single_momentum_is_constant(monkeypatch):
    assert set(_momenta(monkeypatch, momentum=0.9)) == {0.9}


@pytest.mark.parametrize("momentum, message", [((0.85, 0.95), "high >= low"), ((0.9,), "pair"), ((1.2, 0.5), r"\[0, 1\)")])
def test_fit_refuses_a_bad_momentum_pair(momentum, message):
    with pytest.raises(ValueError, match=message):
        fit(make_mlp((8,), inputs=20, classes=5), toy_data(), momentum=momentum, progress=False)


def test_a_momentum_pair_needs_the_one_cycle_schedule():
    with pytest.raises(ValueError, match="cycles only with schedule='one-cycle'"):
        fit(make_mlp((8,), inputs=20, classes=5), toy_data(), schedule="constant", progress=False)
