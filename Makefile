# QuantumLive: `make run` sets up everything and serves; `make test` sets up and tests;
# `make test-fast` leaves out the system tier (real processes) and the slow tests, while you edit.
# Both run the in-process tests in one process per core (pytest-xdist).
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

# The in-process tests run one process per core; the system tier (real gunicorn, workers,
# nginx, timed faults) runs after them on its own, so no other test competes with its timings.
# Both parts run whatever the first gives; pytest's 5 is "nothing selected" (a path in PYTEST_ARGS).
test: setup
	@$(PY) scripts/ensure_chromium.py >/dev/null && $(TEST_SERVICES) && \
	{ $(PY) -m pytest -m "not system" -n auto $(PYTEST_ARGS); in_process=$$?; \
	  $(PY) -m pytest -m system $(PYTEST_ARGS); system=$$?; \
	  for status in $$in_process $$system; do test $$status -eq 0 -o $$status -eq 5 || exit 1; done; \
	  test $$in_process -eq 0 -o $$system -eq 0; }

test-fast: setup
	@$(TEST_SERVICES) && \
	$(PY) -m pytest -m "not system and not slow" -n auto $(PYTEST_ARGS)

bench: setup
	$(PY) bench/tracks_bench.py

clean:
	rm -rf $(VENV) .run staticfiles .pytest_cache
