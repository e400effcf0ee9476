# Quick start: `make run` (set up, then chat with the bundled document), `make test` (set up, then run every test).
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export HF_HUB_OFFLINE := 1

.PHONY: setup run ask test test-fast clean

$(VENV)/.installed: pyproject.toml
	python3.11 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: this CPU build lies on the machine's disk; anything looser pulls a CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed

run: setup
	$(VENV)/bin/docqa serve

ask: setup
	$(VENV)/bin/docqa ask "$(or $(Q),疫情期间共核查了多少人员？)"

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not model and not browser"

clean:
	rm -rf $(VENV) .pytest_cache
