"""helpers: the tested library behind the Pruning MNIST notebooks.

Modules, in the order data flows: config, data, model -> training, pruning ->
experiments -> plots, explorer. See DESIGN.md in the repository for the map.
"""

__version__ = "0.1.0"
