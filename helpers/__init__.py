"""helpers: the tested library behind the Pruning MNIST notebooks.

Modules, in the order data flows: config, data, model -> criteria, pruning ->
training -> experiments, repair, lottery; deploy, compression, export -> plots,
explorer; run and site (the executed notebooks and their website). See DESIGN.md
in the repository for the map.
"""

__version__ = "0.1.0"
