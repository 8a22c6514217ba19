# lutnas — the project's own environment lives in .venv (CPU torch pinned by constraints.txt).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install -q -c constraints.txt
LUTNAS := $(VENV)/bin/lutnas
OUT    ?= out

.PHONY: demo test install install-test bench-noise bench-allocator bench-model-vs-rows bench-fidelity bench-transfer bench-search-hit bench-build bench-search-throughput bench-search-quality bench-scale seed000 clean

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
	@for m in deit-tiny seed-start; do $(LUTNAS) spec $$m || exit 1; echo; done
	$(LUTNAS) measure --model deit-tiny --device torch-cpu --ops --protocol quick
	$(LUTNAS) lut build --device torch-cpu --space vit-mini --protocol quick --out $(OUT)/torch-cpu-vit-mini.parquet
	$(LUTNAS) lut show $(OUT)/torch-cpu-vit-mini.parquet
	$(LUTNAS) lut validate $(OUT)/torch-cpu-vit-mini.parquet --sample 12 --calibrate 4 --protocol quick --out-dir $(OUT)
	$(LUTNAS) breakdown --model d=4,h=3,e=64,r=4,I=96,p=16 --device torch-cpu --lut $(OUT)/torch-cpu-vit-mini.parquet --protocol quick --out-dir $(OUT)
	@rm -f $(OUT)/search-vit-scaling.parquet  # a fresh search: the shipped table (and its margin) may have changed since the last demo
	$(LUTNAS) search --lut luts/torch-cpu-vit-scaling.parquet --latency-ms 20 --margin auto --algorithm coarse-to-fine --objective flops --out $(OUT)/search-vit-scaling.parquet
	$(LUTNAS) report --lut $(OUT)/torch-cpu-vit-mini.parquet --model d=4,h=3,e=64,r=4,I=96,p=16 --grid --html --out-dir $(OUT)
	@echo "demo outputs in $(OUT)/: torch-cpu-vit-mini.parquet (the LUT), torch-cpu-vit-mini-validate.png (scatter), breakdown.png, search-vit-scaling.parquet (a search of the shipped luts/torch-cpu-vit-scaling.parquet), report.md and report.html"

test: install-test
	$(PY) -m pytest -q -n 2

bench-noise: install
	$(PY) -m benchmarks.noise

bench-allocator: install
	$(PY) -m benchmarks.allocator $(ARGS)

bench-model-vs-rows: install
	$(PY) -m benchmarks.model_vs_rows $(ARGS)

# ARGS passes options through, e.g. make bench-fidelity ARGS="--seed 7 --load"
bench-fidelity: install-test
	$(PY) -m benchmarks.fidelity $(ARGS)
	$(PY) -m benchmarks.fidelity_methods

bench-transfer: install-test
	$(PY) -m benchmarks.transfer $(ARGS)

bench-scale: install-test
	$(PY) -m benchmarks.scale

bench-build: install
	$(PY) -m benchmarks.build $(ARGS)

bench-search-throughput: install
	$(PY) -m benchmarks.search_throughput

bench-search-hit: install
	$(PY) -m benchmarks.search_hit $(ARGS)

bench-search-quality: install
	$(PY) -m benchmarks.search_quality

seed000: install
	$(PY) -m benchmarks.seed000

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
