# Set-up and the two everyday jobs. Needs only Python 3.11+, git and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint install clean browser

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## run: offline synthesis of the bundled protocol
run: $(STAMP)
	$(BIN)/evidence run

## test: the whole test suite (fails when no test runs)
test: $(STAMP) browser
	$(BIN)/python -m pytest -q

## browser: Debian's Chromium for the report's browser test, installed when possible
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the browser test"; \
	    apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } || \
	    echo "chromium could not be installed: the browser test will be skipped"; \
	  else echo "chromium is not installed: the browser test will be skipped"; fi; }

lint: $(STAMP)
	$(BIN)/ruff check evidence flows tests bench

clean:
	rm -rf $(VENV) .pytest_cache .prefect
