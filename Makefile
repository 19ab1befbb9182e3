# Ledgerloop. `make demo` runs the site with a worker; `make test` runs the tests. Both install first.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: install demo test lint typecheck clean

# torch first, pinned: it is the CPU build; an unpinned torch pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo "Site: http://$(HOST):$(PORT)/  (Ctrl+C stops the site and its worker)"
	@$(VENV)/bin/celery -A feedback_site worker -B -s var/celerybeat-schedule -Q cpu,gpu --concurrency 1 --loglevel WARNING & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver $(HOST):$(PORT) --noreload

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

# Types: strict on simulator/ and rlhf/, lighter on the site's services and selectors (pyproject.toml's
# [tool.mypy] says how each part is checked). The apps not listed yet: annotation, accounts, core, serving.
TYPECHECKED ?= simulator rlhf feedback_site/core/jobs.py feedback_site/core/job_views.py $(foreach app,annotation attribution governance ledger quality rounds serving training,\
	feedback_site/$(app)/services.py feedback_site/$(app)/selectors.py)
typecheck: install
	$(VENV)/bin/mypy $(TYPECHECKED)

# Benchmarks, by hand: `make bench-load` (needs DATABASE_URL=postgres://...), bench-export, bench-quality,
# bench-reward_models, bench-attribution, bench-policy_math, bench-settlement, bench-simulator, bench-report, bench-fair_pay,
# bench-score_signs, bench-active_selection.
bench-%: install
	$(PY) benchmarks/bench_$*.py

clean:
	rm -rf var .pytest_cache
