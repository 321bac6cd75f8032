# Fixtrail task runner. `make run` opens the dashboard on the demo logs; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOGS ?= logs
PORT ?= 8501
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install run test lint format screenshots demo browser bench bench-large bench-scale bench-s3 soak

$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e . || $(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m compileall -q analyze_logs.py api backend cli dashboard loaders >/dev/null
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

run: install
	$(BIN)/python -m dashboard.serve --server.port $(PORT) -- --logs-dir "$(LOGS)"

# Chromium from Debian for the browser tests: skipped when it is there; waits (up to 10 minutes) for
# another install holding the package manager's lock instead of failing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get -o DPkg::Lock::Timeout=600 update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null; \
	  else echo "chromium is not installed: the browser tests will be skipped (sudo apt-get install chromium)"; fi; }

test: install browser
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

screenshots: install browser
	$(BIN)/python -m pytest tests/test_browser.py --screenshots screenshots

soak: install
	$(BIN)/python -m pytest -m soak tests/test_soak.py

demo: install
	rm -rf "$(LOGS)/failures" "$(LOGS)/successes" "$(LOGS)/sessions"
	$(BIN)/python -m loaders.demo --out "$(LOGS)" --sessions 300 --days 30

bench: install
	$(BIN)/python -m bench.run --sessions 20000

bench-large: install
	$(BIN)/python -m bench.run --sessions 100000 --runs 1 --out bench/results/large.json

# 20,000 to 1,000,000 sessions; the trees are generated once outside the clone (FIXTRAIL_BENCH_TREES,
# else ../fixtrail-bench-trees: about 16 GB for the four) and reused.
bench-scale: install
	$(BIN)/python -m bench.scale --sizes 20000,100000,300000,1000000

# S3 listing/fetching, Delta compaction and the Overview on a 1,000,000-row table (moto's S3 on 127.0.0.1).
bench-s3: install
	$(BIN)/python -m bench.bench_s3 --objects 500,2000 --rows 100000,1000000 --out bench/results/s3.json
