# K2 Trophy Builder: `make run` serves the app, `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
MANAGE := $(PY) manage.py

.PHONY: run setup test test-sqlite test-postgres system-deps bench mutation clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# What make run does before serving; each step creates what is missing and
# changes nothing staff made (tests/test_demo.py runs this target).
setup: $(VENV)/.installed
	$(MANAGE) migrate --noinput
	$(MANAGE) k2 demo
	$(MANAGE) k2 admin
	$(MANAGE) collectstatic --noinput --verbosity 0

run: setup
	$(MANAGE) k2 serve

# Debian packages the tests use: Chromium for browser tests, PostgreSQL's
# server, ImageMagick for the benchmark baseline. Installed when missing and
# running as root; otherwise the suite says what is missing.
system-deps:
	@bash deploy/system-deps.sh

test: $(VENV)/.installed system-deps test-sqlite test-postgres

test-sqlite: $(VENV)/.installed
	$(PY) -m pytest -q

test-postgres: $(VENV)/.installed
	K2_TEST_POSTGRES=1 $(PY) -m pytest -q -m "not browser"

bench: $(VENV)/.installed
	$(PY) bench/build_bench.py

# Mutation testing (not part of make test; about 10-20 minutes here): mutmut
# mutates the modules named in setup.cfg and runs the tests that cover each
# change; a surviving mutant is a behaviour no test checks.
mutation: $(VENV)/.installed
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children 2
	$(VENV)/bin/mutmut results

clean:
	rm -rf $(VENV) var
