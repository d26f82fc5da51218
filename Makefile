# lipreader: `make demo` runs the whole chain offline; `make test` runs the tests.
# Both install what they need into .venv first (once; again only when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch is installed on its own first so that an existing CPU build is reused;
# set TORCH_SPEC to pick another build (e.g. TORCH_SPEC="torch==2.5.1").
TORCH_SPEC ?= torch==2.13.0

.PHONY: install test demo bench lint clean check-python

install: $(STAMP)

check-python:
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; ok = (3, 10) <= v <= (3, 12); \
	sys.exit(0) if ok else sys.exit("lipreader needs Python 3.10, 3.11 or 3.12 (mediapipe 0.10.21 has no wheels for %d.%d). Run: make PYTHON=python3.11 install" % v)'

$(STAMP): pyproject.toml | check-python
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -c 'import torch' 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/lipreader demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

lint: $(STAMP)
	$(BIN)/ruff check lipreader builder pipelines tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache demo-out
