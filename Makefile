# lutnas — the project's own environment lives in .venv (CPU torch pinned by constraints.txt).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install -q -c constraints.txt
LUTNAS := $(VENV)/bin/lutnas
OUT    ?= out

.PHONY: demo test install install-test bench bench-noise bench-fidelity bench-build clean

$(VENV)/.base: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PIP) -e .
	touch $@

$(VENV)/.test: $(VENV)/.base
	$(PIP) -e '.[test]'
	touch $@

install: $(VENV)/.base
install-test: $(VENV)/.test

demo: install
	@mkdir -p $(OUT)
	$(LUTNAS) spaces
	@for m in deit-tiny deit-small seed-start scaled-tiny; do $(LUTNAS) spec $$m || exit 1; echo; done

test: install-test
	$(PY) -m pytest -q

bench-noise: install
	$(PY) -m benchmarks.noise

bench-fidelity: install
	$(PY) -m benchmarks.fidelity

bench-build: install
	$(PY) -m benchmarks.build

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
