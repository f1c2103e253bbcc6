# Two commands matter: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
SYS_STAMP := .sys-packages-installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint typecheck unit install install-dev system-packages clean bench screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)
install-dev: $(DEV_STAMP)

## Debian packages the test suite runs for real: Redis, PostgreSQL, Chromium.
system-packages:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

run: $(STAMP)
	$(BIN)/spoedplein run

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy .

## The suite in two passes: everything not marked `serial` on PYTEST_WORKERS processes (one per core, at
## most 4), each file's tests on one worker so module fixtures start once; then the `serial` tests alone,
## because they time things, load the machine or kill processes under load. Both passes always run; a
## pass that selects nothing (PYTEST_ARGS naming non-serial tests only) is not a failure unless both do.
PYTEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider

unit: $(DEV_STAMP) system-packages
	@parallel=0; serial=0; \
	$(PYTEST) -n $(PYTEST_WORKERS) --dist loadfile -m "not serial" $(PYTEST_ARGS) || parallel=$$?; \
	$(PYTEST) -m serial $(PYTEST_ARGS) || serial=$$?; \
	if [ $$parallel -eq 5 ] && [ $$serial -eq 5 ]; then exit 5; fi; \
	for rc in $$parallel $$serial; do [ $$rc -eq 0 ] || [ $$rc -eq 5 ] || exit $$rc; done

test: lint typecheck unit

## Screenshots of every page (desktop and 390x844) into docs/screenshots/, from a seeded `spoedplein run`.
screenshots: $(DEV_STAMP) system-packages
	$(BIN)/python tools/screenshots.py --out docs/screenshots

bench: $(DEV_STAMP)
	$(BIN)/python bench/mllp_ingest.py
	$(BIN)/python bench/process.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache
