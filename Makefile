# Quick start: `make run` (set up, then chat with the bundled document), `make test` (set up, then run every test).
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export HF_HUB_OFFLINE := 1

.PHONY: setup browser run ask test test-fast clean

$(VENV)/.installed: pyproject.toml
	python3.11 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: this CPU build lies on the machine's disk; anything looser pulls a CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test,milvus]'
	touch $@

setup: $(VENV)/.installed

# The browser tests drive Debian's Chromium (no browser download works here) and need CJK
# fonts for the screenshot; installed when missing and apt-get can run (as root).
browser:
	@if command -v chromium >/dev/null && fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	else echo "make: chromium missing and cannot apt-get it: the browser tests will be skipped"; fi

run: setup
	$(VENV)/bin/docqa serve

ask: setup
	$(VENV)/bin/docqa ask "$(or $(Q),疫情期间共核查了多少人员？)"

test: setup browser
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not model and not browser"

clean:
	rm -rf $(VENV) .pytest_cache
