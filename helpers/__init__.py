"""helpers: the tested library behind the Pruning MNIST notebooks.

Modules, in the order data flows: config, data, model, stats -> criteria, pruning ->
training -> experiments, repair, lottery; deploy, compression, export -> plots,
explorer; claims (a notebook's claims, `make claims`), run and site (the executed
notebooks and their website). See the README's project layout for the map.
"""

__version__ = "0.1.0"
