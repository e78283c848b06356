# Limber — `make run` starts the demo clinic, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)

.PHONY: install preflight migrate demo run test lint ci clean bench bench-quick

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
	@echo "Starting web (http://127.0.0.1:8000/admin/), Celery worker and beat — Ctrl-C stops all."
	@PATH="$(CURDIR)/$(BIN):$$PATH" exec $(BIN)/honcho start -f Procfile

test: preflight
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
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
