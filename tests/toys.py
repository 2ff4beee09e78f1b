"""Small synthetic networks and data shared by the unit tests (importable: tests/ is on sys.path under pytest)."""

import torch

from helpers.data import Split
from helpers.model import make_mlp
from helpers.training import fit


def toy(n=400, seed=0, features=20):
    """A separable 5-class toy problem: the class is the largest of the first five features."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(n, features, generator=generator)
    return Split(images, images[:, :5].argmax(1))


def trained_toy():
    """A 20-32-16-5 network trained briefly on `toy()`, and a copy of its weights (to check nothing changes them)."""
    torch.manual_seed(0)
    net = make_mlp((32, 16), inputs=20, classes=5)
    fit(net, toy(), epochs=4, lr=0.1, batch_size=32, progress=False)
    return net, {name: t.clone() for name, t in net.state_dict().items()}


def untouched(net, before):
    """True when every tensor of `net`'s state_dict equals `before`'s."""
    return all(torch.equal(t, before[name]) for name, t in net.state_dict().items())


def small_mnist_like():
    """A 784-64-32-10 network trained briefly on 300 random images, and those images as its test split: the
    explorer's tests (pruning it changes its predictions)."""
    torch.manual_seed(0)
    net = make_mlp((64, 32), inputs=784, classes=10)
    generator = torch.Generator().manual_seed(1)
    test = Split(torch.randn(300, 784, generator=generator), torch.randint(0, 10, (300,), generator=generator))
    fit(net, test, epochs=3, lr=0.05, batch_size=50, progress=False)
    return net, test
