# streamlake: `make demo` runs the pipeline locally, `make test` runs the tests.
# Both create .venv and node_modules from the pinned files on first use and are safe to re-run.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet

# Offline, credential-free CDK: no version check, no EC2 metadata probing, no Node EOL banner.
export CDK_DISABLE_VERSION_CHECK := 1
export AWS_EC2_METADATA_DISABLED := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: install demo test lint synth bench clean browser soak mutate

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements-dev.txt
	$(PIP) install --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

lint: $(VENV)/.installed
	$(BIN)/ruff check .

test: install lint browser
	$(BIN)/python -m pytest

synth: install
	npx cdk synth --quiet

# Debian's Chromium for the live view's browser test (tests/web/test_browser.py; Playwright drives it, nothing is
# downloaded). Installed only when missing, as root or with passwordless sudo. Where neither is possible the browser
# test is skipped, except in CI (CI=true), where a failed install stops here.
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	  else echo "make browser: $(CHROMIUM) is missing and installing it needs root; the browser test will be skipped"; \
	    exit 0; fi; \
	  echo "make browser: installing chromium (Debian package)"; \
	  { $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
	    >/tmp/streamlake-browser-install.log 2>&1 \
	  || { tail -20 /tmp/streamlake-browser-install.log; echo "make browser: could not install chromium"; \
	    [ "$$CI" != true ]; }; }

# ARGS passes flags through, e.g. `make demo ARGS=--continuous` (see `python -m local demo --help`).
demo: install
	$(BIN)/python -m local demo $(ARGS)

bench: $(VENV)/.installed
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Minutes-long reliability runs (60 s at the 1-shard write limit), not part of `make test` or CI; prints what they
# measured as rows of the table in docs/reliability.md (run/soak-report.jsonl keeps them).
soak: $(VENV)/.installed
	@mkdir -p run && rm -f run/soak-report.jsonl
	RELIABILITY_REPORT=run/soak-report.jsonl $(BIN)/python -m pytest tests/reliability -m soak -q
	@$(BIN)/python -m tests.reliability.report run/soak-report.jsonl

# Mutation testing (cosmic-ray) of the core modules, each against the tests that cover it; minutes to hours, not part
# of `make test` or CI. `make mutate TARGETS="alarms writer"` picks targets (`python -m tests.mutation.mutate --list`).
# Mutants are applied to a copy under run/mutation/; scores and survivors: docs/testing.md.
mutate: $(VENV)/.installed
	$(BIN)/python -m tests.mutation.mutate $(TARGETS)

clean:
	rm -rf cdk.out run .pytest_cache .ruff_cache .hypothesis
