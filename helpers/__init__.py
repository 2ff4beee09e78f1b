"""helpers: the tested library behind the Pruning MNIST notebooks.

The map, bottom to top (a module imports only from its own row or below; tests/test_layering.py checks it):

    config, stats          constants, paths, the device, the series' seed; standard error, the noise rule, the
                           paired test and their words ("higher", "lower", "too close to call")
    data, model            load_mnist() (cache -> MNIST_DIR -> download); make_mlp(), atomic checked checkpoints
    criteria               importance scores: one Criterion record per criterion in REGISTRY (a new criterion
                           goes here: its formula, whether it needs images or labels, its colour)
    pruning                masks, rank(), prune(), compact(), sparsity(): pure functions, a new network out
    training               fit(), evaluate(), correct(), baseline() (cached per seed and recipe), initial weights
    sweeps                 one-shot pruning measured along one axis: sweep(), per-layer, criteria, equal cost
    retraining             fine_tune() with the mask held, iterative and gradual schedules, the controls
                           (random masks, from_scratch, rewound), compare_fine_tuning() on validation
    activity, inputs       what hidden units do on data; the always-blank pixels
    allocation             per-layer sensitivity and the budget allocated from it
    repair/, lottery       least-squares repair and OBS / SparseGPT (refit.py), the choices made on validation
                           (choices.py); lottery tickets and their controls
    at_init,               pruning before training (SNIP, GraSP, SynFlow, random and shuffled masks, layer
    sparse_training,       collapse) and during it (gradual magnitude from scratch, RigL), training FLOPs counted;
    learned_sparsity       L0 gates with the hard-concrete distribution: sparsity learned by gradient descent
    experiments            the old import path of the five above, kept for one release
    when_to_prune          before, during or after training: train_arm() trains every arm the same way and
                           counts its training multiply-adds (notebook 10, benchmarks/when_to_prune.py)
    deploy, timing         CSR and to_inference(), shipping_table(); time_forward() and the speed margin
    compression, coding    the Deep Compression file (weight sharing, choose_bits); relative positions, Huffman
    frontier               the recipe to the smallest file at 98% (notebook 11): its steps, the waterfall,
                           drop one step, L0 gates against magnitude
    export                 ONNX, int8, every shipped form written and read back
    plots/                 figures by subject (training, weights, sweeps, criteria, repair, lottery, deploy,
                           when_to_prune, frontier);
                           style.py holds every palette and use_style(), which the notebooks call
    explorer/              the interactive explorer: setting, engine (no widgets), figures, readout, tune, panel
    static_explorer, warm  every setting of the explorer's slider computed for the site; Binder's build step
    claims, run, site      a notebook's checked claims and `make claims`; `make run`; the static site

Where a new thing goes (tried by a newcomer in a scratch copy: each took a few minutes):
- a criterion: one Criterion record and its formula in criteria.py (REGISTRY); the menus, checks and plot colours
  follow from it. Then update the tests that pin the names (test_criteria, the explorer's menu in test_explorer)
  and the criterion's row in benchmarks/criteria.py: notebook 06's claims read the 3-seed table (`make results`).
- a figure: a function in the plots module of its subject, added to `__all__` in plots/__init__.py.
- an explorer control: its widget and wiring in explorer/panel.py, what it computes in explorer/engine.py (no
  widgets), what it shows in explorer/readout.py (text) or explorer/figures.py (pictures; a point's pictures are
  cached with it, so a picture that depends on the control is drawn once per setting and kept).
"""

__version__ = "0.1.0"
