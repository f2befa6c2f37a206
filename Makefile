# make test / make docs / make bench: create .venv if missing, install the project into it, run.
PYTHON ?= python3
VENV ?= .venv
# Pin torch to its CPU build unless an NVIDIA GPU is here; override with `make test TORCH_CONSTRAINTS=`.
TORCH_CONSTRAINTS ?= $(if $(shell command -v nvidia-smi),,constraints-cpu.txt)
EXTRAS ?= torch,onnxruntime,openvino,quantize,rtx,plot,video,docs,test
STAMP := $(VENV)/.installed

.PHONY: test docs bench clean

test: $(STAMP)
	$(VENV)/bin/ruff check repvsr_deploy tests benchmarks
	$(VENV)/bin/ruff format --check repvsr_deploy tests benchmarks
	$(VENV)/bin/pytest
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir site

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

bench: $(STAMP)
	$(VENV)/bin/repvsr-bench --model repvsr,frvsr --res 720p

$(STAMP): pyproject.toml $(TORCH_CONSTRAINTS)
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --no-compile $(if $(TORCH_CONSTRAINTS),-c $(TORCH_CONSTRAINTS)) -e ".[$(EXTRAS)]"
# byte-compiled on every core (pip compiles on one: 68 s against 41 s here); a file written for a
# newer Python (torch has one for 3.12) is left uncompiled, as pip leaves it: hence || true
	$(VENV)/bin/python -m compileall -qq -j 0 $(VENV)/lib || true
	touch $@

clean:
	rm -rf $(VENV) build site *.egg-info
