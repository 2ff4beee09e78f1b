# The few commands a user types. Each one creates the environment first if it is missing.
#   make run   execute every notebook on real MNIST (copies in build/executed/, a progress bar each), print what it produced
#   make test  unit tests, then every notebook under nbmake (copies in build/executed/), the site, then the browser tests
#   make site  the static site of the executed notebooks in build/site/ (after make test or make run)
#              with explorer.html, the explorer without a kernel (its data computed once, cached in build/explorer/)
#   make lab   open JupyterLab on notebooks/
#   make claims    every notebook once per seed (SEEDS="1 2", NOTEBOOKS="03 06"); one table of the claims that did not hold
#   make explorer  the explorer alone as a web page (Voila, no code shown) at http://localhost:8866
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
NOTEBOOK_FILES = $(sort $(wildcard notebooks/[0-9]*.ipynb))
# make claims: the seeds and (by number; empty = all but 00) the notebooks it runs
SEEDS ?= 0 1 2 3 4
NOTEBOOKS ?=
EXECUTED  = build/executed

.PHONY: run test claims unit notebooks browser lab explorer site results recipe benchmark pages clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/python -m helpers.run $(NOTEBOOK_FILES)

# the notebooks are executed once, as copies in build/executed/ (nbmake --overwrite writes the outputs into the
# copies, never into notebooks/); the site is built from those copies
# a claim that does not hold fails make test (make run, make lab and a reader's session show a note instead)
test: export PRUNING_MNIST_CLAIMS = strict
test: $(BIN)/.installed
	$(BIN)/python -m pytest -m "not browser"
	rm -rf $(EXECUTED) && mkdir -p $(EXECUTED) && cp $(NOTEBOOK_FILES) $(EXECUTED)/
	$(BIN)/python -m pytest --nbmake --overwrite --nbmake-timeout=1800 --durations=0 -p no:cacheprovider $(EXECUTED)/*.ipynb
	$(BIN)/python -m helpers.site
	$(BIN)/python -m pytest -m browser -rs

# every notebook once per seed, into build/claims/seed-N/; ends with the table of the claims that did not hold
claims: $(BIN)/.installed
	$(BIN)/python -m helpers.claims --seeds $(SEEDS) --notebooks $(NOTEBOOKS)

site: $(BIN)/.installed
	$(BIN)/python -m helpers.site

unit: $(BIN)/.installed
	$(BIN)/python -m pytest -m "not browser"

lab: $(BIN)/.installed
	$(BIN)/jupyter lab notebooks/

# app/voila/templates/offline: Voila's lab template without its links to a CDN
explorer: $(BIN)/.installed
	JUPYTER_PATH=app $(BIN)/voila app/explorer.ipynb --template=offline --port=8866

# 3 seeds of the one-shot (with and without L1), fine-tuned and iterative sweeps, then the criteria and allocation
# tables of notebook 06, the repair table of notebook 07, the lottery table of notebook 08 and the before/during/after
# table of notebook 10 and the frontier of notebook 11, mean ± standard error:
# writes build/results/ (not part of CI: it trains two networks per seed, fine-tunes for 24 epochs per seed, and runs
# 22 short trainings per seed for the lottery, 24 trainings per seed for notebook 10)
results: $(BIN)/.installed
	$(BIN)/python -m benchmarks.seeds
	$(BIN)/python -m benchmarks.criteria
	$(BIN)/python -m benchmarks.repair
	$(BIN)/python -m benchmarks.lottery
	$(BIN)/python -m benchmarks.when_to_prune --name when_to_prune_1
	$(BIN)/python -m benchmarks.when_to_prune --keeps 10 3 0.5 --arms SNIP RigL gradual "gradual, sparse start" "magnitude + fine-tuning" --long --name when_to_prune_keeps
	$(BIN)/python -m benchmarks.when_to_prune --runs build/results/when_to_prune_1.csv build/results/when_to_prune_keeps.csv
	$(BIN)/python -m benchmarks.frontier

# the L1 strength of RECIPE, chosen on the validation split: writes build/results/recipe.csv (four trainings on seed 0)
recipe: $(BIN)/.installed
	$(BIN)/python -m benchmarks.recipe

# the README's speed table (benchmarks.all), then what shipping costs and saves (benchmarks.ship: Deep Compression,
# ONNX, int8)
benchmark: $(BIN)/.installed
	$(BIN)/python -m benchmarks.all
	$(BIN)/python -m benchmarks.ship

# the tables and sentences of the README and docs/*.md made from the CSVs in docs/ (copy them there from build/ first)
pages: $(BIN)/.installed
	$(BIN)/python -m benchmarks.pages

clean:
	rm -rf build
