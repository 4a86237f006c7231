# QuantumLive: `make run` sets up everything and serves; `make test` sets up and tests;
# `make test-fast` leaves out the system tier (real processes) and the slow tests, while you edit,
# and runs the rest in one process per core (pytest-xdist).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SYSTEM_PYTHON ?= python3
# nginx for the tests of deploy/nginx.conf, and a Redis at REDIS_URL (a private one if none answers)
TEST_SERVICES = $(PY) scripts/ensure_nginx.py >/dev/null && \
	REDIS_URL=$$($(PY) scripts/ensure_redis.py) && export REDIS_URL

.PHONY: run serve test test-fast setup migrate bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(SYSTEM_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@echo "compiling librosa's numba kernels into the venv's cache (once; a minute or two)"
	$(PY) -c "from analysis.audio import warm_up; warm_up()"
	touch $@

setup: $(VENV)/.installed

run: setup
	@REDIS_URL=$$($(PY) scripts/ensure_redis.py) && export REDIS_URL && \
	$(PY) manage.py migrate --noinput && \
	$(PY) manage.py collectstatic --noinput -v 0 && \
	$(PY) manage.py dev_user && \
	echo "serving on http://127.0.0.1:$${PORT:-8000}/ (Redis: $$REDIS_URL)" && \
	exec $(PY) scripts/serve.py

serve:
	exec $(PY) scripts/serve.py

test: setup
	@$(PY) scripts/ensure_chromium.py >/dev/null && $(TEST_SERVICES) && \
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup
	@$(TEST_SERVICES) && \
	$(PY) -m pytest -m "not system and not slow" -n auto $(PYTEST_ARGS)

bench: setup
	$(PY) bench/tracks_bench.py

clean:
	rm -rf $(VENV) .run staticfiles .pytest_cache
