# annbench: `make bench` and `make test` work on a fresh clone (they create .venv themselves).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.annbench-installed
CONFIG ?= configs/default.yaml
JOBS ?= 2

.PHONY: setup bench bench-realistic bench-sweeps quick test report lint clean faults help

help:
	@echo "make bench   - run $(CONFIG) and print the report path (sets up .venv if needed)"
	@echo "make test    - run the test suite (sets up .venv if needed)"
	@echo "make bench-realistic - every architecture at realistic size on mnist5k (configs/realistic.yaml)"
	@echo "make bench-sweeps    - MLP width and batch-size sweeps, every framework and mode (configs/sweeps.yaml)"
	@echo "make quick   - seconds-long smoke run (configs/quick.yaml)"
	@echo "make report RUN=results/<dir> - rebuild a report"
	@echo "make lint    - ruff"

# Reinstall when the dependency declarations change. torch is pinned exactly in pyproject and
# constraints: a looser spec makes pip pull a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[all]'
	@touch $(STAMP)

setup: $(STAMP)

bench: $(STAMP)
	$(VENV)/bin/annbench run $(CONFIG)

# For the small-vs-realistic rank table: annbench report <realistic run> --baseline <make bench run>
bench-realistic: $(STAMP)
	$(VENV)/bin/annbench run configs/realistic.yaml

bench-sweeps: $(STAMP)
	$(VENV)/bin/annbench run configs/sweeps.yaml

quick: $(STAMP)
	$(VENV)/bin/annbench run configs/quick.yaml

test: $(STAMP)
	$(PY) -m pytest -q -n $(JOBS) --dist worksteal

report: $(STAMP)
	@test -n "$(RUN)" || (echo "usage: make report RUN=results/<run dir>"; exit 2)
	$(VENV)/bin/annbench report $(RUN)

lint: $(STAMP)
	$(VENV)/bin/ruff check harness architectures tests benchmarks

clean:
	rm -rf results .pytest_cache
