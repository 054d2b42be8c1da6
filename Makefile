# annbench: `make bench` and `make test` work on a fresh clone (they create .venv themselves).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.annbench-installed
CONFIG ?= configs/default.yaml
JOBS ?= 2

.PHONY: setup setup-gpu bench bench-realistic bench-sweeps quick test report lint clean faults help

help:
	@echo "make bench   - run $(CONFIG) and print the report path (sets up .venv if needed)"
	@echo "make test    - run the test suite (sets up .venv if needed)"
	@echo "make bench-realistic - every architecture at realistic size on mnist5k (configs/realistic.yaml)"
	@echo "make bench-sweeps    - MLP width and batch-size sweeps, every framework and mode (configs/sweeps.yaml)"
	@echo "make quick   - seconds-long smoke run (configs/quick.yaml)"
	@echo "make report RUN=results/<dir> - rebuild a report"
	@echo "make lint    - ruff"
	@echo "make setup-gpu - a separate $(GPU_VENV) with the CUDA builds of torch, TensorFlow and jax, checked"

# Reinstall when the dependency declarations change. torch is pinned exactly in pyproject and
# constraints: a looser spec makes pip pull a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[all]'
	@touch $(STAMP)

setup: $(STAMP)

# A GPU machine: a separate venv with the CUDA builds (the extras install the CPU ones: tensorflow-cpu,
# CPU-only jaxlib). torch==2.13.0 from the default PyPI index is its CUDA 12 build on Linux (the +cpu
# wheel comes only from download.pytorch.org). The versions are the CPU venv's (constraints.txt), so
# numbers from both venvs compare; pip resolves the nvidia-* CUDA 12 libraries the three share, and
# `pip check` fails the target if they disagree. Not the tensorflow extra: tensorflow-cpu and
# tensorflow would both install the tensorflow package.
GPU_VENV ?= .venv-gpu
GPU_PY := $(GPU_VENV)/bin/python
GPU_PKGS := torch==2.13.0 'tensorflow[and-cuda]==2.21.0' 'jax[cuda12]==0.10.2' flax optax

setup-gpu:
	@test -x $(GPU_PY) || $(PYTHON) -m venv $(GPU_VENV)
	$(GPU_PY) -m pip install -q --upgrade pip
	$(GPU_PY) -m pip install -q -c constraints.txt -e '.[autograd,sklearn,theano,minisom,ray,test]' $(GPU_PKGS)
	$(GPU_PY) -m pip check
	$(GPU_PY) -c "import sys, torch; sys.exit(None if torch.version.cuda else 'setup-gpu: torch ' + torch.__version__ + ' is a CPU build (a pip config or local wheel offered it): pip install --force-reinstall --no-deps torch==2.13.0 from PyPI')"
	$(GPU_PY) -m harness env --probe --device cuda

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
	$(PY) -m pytest -q -n $(JOBS) --dist worksteal --durations=25

report: $(STAMP)
	@test -n "$(RUN)" || (echo "usage: make report RUN=results/<run dir>"; exit 2)
	$(VENV)/bin/annbench report $(RUN)

lint: $(STAMP)
	$(VENV)/bin/ruff check harness architectures tests benchmarks

clean:
	rm -rf results .pytest_cache
