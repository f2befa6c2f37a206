# make test / make check / make docs / make bench: create .venv if missing, install the project into it, run.
PYTHON ?= python3
VENV ?= .venv
# Pin torch to its CPU build unless an NVIDIA GPU is here; override with `make test TORCH_CONSTRAINTS=`.
TORCH_CONSTRAINTS ?= $(if $(shell command -v nvidia-smi),,constraints-cpu.txt)
EXTRAS ?= torch,onnxruntime,openvino,quantize,rtx,plot,video,train,docs,test
STAMP := $(VENV)/.installed
# The development tools (linters, test runner, doc builder) at the versions the code was checked with.
DEV_CONSTRAINTS := constraints-dev.txt
# uv installs (unpacks on every core: under 20 s here with its cache warm; pip took 2 minutes). It reads
# no pip configuration, so the wheel folder and extra indexes pip is given, if any, are passed on,
# and like pip it takes the best version any index offers.
PIP_SETTING = $(shell $(PYTHON) -m pip config get global.$(1) 2>/dev/null)
export UV_FIND_LINKS ?= $(or $(PIP_FIND_LINKS),$(call PIP_SETTING,find-links))
export UV_EXTRA_INDEX_URL ?= $(or $(PIP_EXTRA_INDEX_URL),$(call PIP_SETTING,extra-index-url))
export UV_INDEX_STRATEGY ?= unsafe-best-match
# Bytecode is written as modules are first imported, for the few thousand the commands use, rather
# than compiled ahead for all 15,000 files of the environment (35 s here); so the environment's
# PYTHONDONTWRITEBYTECODE, if set, is not passed on (without bytecode each process compiles anew).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: test check lint docs bench clean

test: lint
	$(VENV)/bin/pytest
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir site

# the fast tier, for while you work: lint, layers, types and the tests marked fast (under a minute on 2 cores)
check: lint
	$(VENV)/bin/pytest -m fast

lint: $(STAMP)
	$(VENV)/bin/ruff check repvsr_deploy tests benchmarks
	$(VENV)/bin/ruff format --check repvsr_deploy tests benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

bench: $(STAMP)
	$(VENV)/bin/repvsr-bench --model repvsr,frvsr --res 720p

$(STAMP): pyproject.toml $(TORCH_CONSTRAINTS) $(DEV_CONSTRAINTS)
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet uv
	$(VENV)/bin/uv pip install --quiet --python $(VENV)/bin/python -c $(DEV_CONSTRAINTS) $(if $(TORCH_CONSTRAINTS),-c $(TORCH_CONSTRAINTS)) -e ".[$(EXTRAS)]"
	touch $@

clean:
	rm -rf $(VENV) build site *.egg-info
