VENV ?= .venv
PY := $(VENV)/bin/python
WORKSPACE ?= workspace/segments.duckdb
PORT ?= 8501

.PHONY: run test lint format bench install install-dev chromium clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(PY)
	$(PY) -m pip install -q -e .

install-dev: $(PY)
	$(PY) -m pip install -q -e '.[dev,spark]'

chromium:
	@test -x /usr/bin/chromium || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

run: install
	$(VENV)/bin/segmentation init --workspace $(WORKSPACE) --demo
	$(VENV)/bin/segmentation serve --workspace $(WORKSPACE) --host 127.0.0.1 --port $(PORT)

test: install-dev chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install-dev
	$(PY) bench/run.py --profiles 1000000 --out bench/results-1m.json
	$(PY) bench/run.py --profiles 10000000 --out bench/results-10m.json

clean:
	rm -rf $(VENV) workspace tests/artifacts
