# owlmail: `make run` serves the site, `make test` runs the whole suite.
# Both set themselves up on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
FLASK  := $(BIN)/flask --app owlmail
PG_TEST_URI ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: install run worker test test-sqlite test-postgres lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(FLASK) db upgrade
	$(FLASK) editor dev-login
	OWLMAIL_SCHEDULER_ENABLED=true OWLMAIL_DEV_OUTBOX=true $(FLASK) run --debug

worker: $(STAMP)
	$(FLASK) worker

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The suite runs on SQLite, then again on PostgreSQL when one answers.
# Browser tests run when Debian's chromium is installed, the production test
# (tests/test_production.py: nginx, gunicorn, PostgreSQL, Redis, worker, relay) when
# nginx is, once, in the first pass; tests/preflight.py says clearly what was
# found, and fails when CI demands it.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python tests/preflight.py
	$(MAKE) --no-print-directory test-sqlite
	@if $(BIN)/python tests/preflight.py --postgres-ok "$(PG_TEST_URI)"; then \
		$(MAKE) --no-print-directory test-postgres; \
	fi

test-sqlite: $(STAMP)
	OWLMAIL_STACK_DATABASE_URI="$${OWLMAIL_STACK_DATABASE_URI:-$(PG_TEST_URI)}" \
		$(BIN)/pytest -p no:cacheprovider

test-postgres: $(STAMP)
	OWLMAIL_TEST_DATABASE_URI="$(PG_TEST_URI)" $(BIN)/pytest -p no:cacheprovider \
		-m "not browser and not production"

bench: $(STAMP)
	$(BIN)/python bench/signup_load.py
	$(BIN)/python bench/send_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# Translations (German source strings, English catalogue in owlmail/translations):
# extract collects every _() into the template and merges it into each language's .po;
# compile writes the .mo files the app reads (committed, so a fresh clone needs no step).
.PHONY: translations-extract translations-compile

translations-extract: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --sort-by-file \
		--project=owlmail -o owlmail/translations/messages.pot .
	$(BIN)/pybabel update -i owlmail/translations/messages.pot -d owlmail/translations \
		--no-fuzzy-matching --ignore-obsolete

translations-compile: $(STAMP)
	$(BIN)/pybabel compile -d owlmail/translations --statistics
