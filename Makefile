# Limber — `make run` starts the demo clinic, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)

.PHONY: install preflight migrate demo run test test-fast lint ci clean bench bench-quick

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

preflight: install
	@$(PY) -m config.preflight

migrate: preflight
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py load_demo

run: demo
	@echo "Starting web (admin http://127.0.0.1:8000/admin/, patient portal http://127.0.0.1:8000/portal/), Celery worker and beat — Ctrl-C stops all."
	@PATH="$(CURDIR)/$(BIN):$$PATH" exec $(BIN)/honcho start -f Procfile

# Tests in tiers (tests/tiers.py marks every test; README "Checks"). `make test` runs all of them: first whatever
# may share the machine on $(WORKERS) pytest-xdist workers (each with its own test database and Redis database),
# then the `serial` tests (subprocesses, threads, real Celery workers, the beat's lock) one at a time. Both phases
# always run; either one failing fails the target, and so does one that ran no test (pytest's exit status 5).
WORKERS ?= 2
FAST := not (slow or subprocess or serial or browser or transactional)

test: preflight
	@$(BIN)/pytest -n $(WORKERS) -m "not serial"; parallel=$$?; \
	$(BIN)/pytest -m serial; serial=$$?; \
	echo "make test: parallel phase exit status $$parallel, serial phase $$serial (0 = passed)"; \
	exit $$(( parallel ? parallel : serial ))

# The pure and rolled-back database tiers (API, admin, services): under a minute. It keeps its workers' test
# databases between runs (new migrations are applied to them); `make test-fast FAST_DB=--create-db` rebuilds them.
FAST_DB ?= --reuse-db
test-fast: preflight
	$(BIN)/pytest -n $(WORKERS) -m "$(FAST)" $(FAST_DB)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=$(CURDIR) $(BIN)/lint-imports --no-cache
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py check
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null
	DJANGO_SETTINGS_MODULE=config.settings.production ALLOWED_HOSTS=limber.example SECRET_KEY=ci-only-throwaway-key-never-deployed-9f4c2a7e1b8d3f6a0c5e2b7d4a1f8c3e $(PY) manage.py check --deploy --fail-level WARNING

ci: lint test

# Portal plans vs a plain-Django baseline under gunicorn + wrk (3 interleaved rounds), then the Celery benchmarks;
# writes bench/results.json.
bench: preflight
	$(PY) -m bench.run --with-celery

# A smoke run of the same: 200 patients, one 5 s round per endpoint, no Celery benchmarks.
bench-quick: preflight
	$(PY) -m bench.run --quick

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
