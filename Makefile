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

.PHONY: install demo test lint synth check-deploy bench clean browser soak fuzz mutate

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
	$(BIN)/python -m pytest -n 2

synth: install
	npx cdk synth --quiet

# Before `cdk deploy`: synth with your values into cdk.out, cdk-nag and cfn-lint on every template, the offline
# wiring check (every service-to-service permission: identity, resource, key and trust policies) on cdk.out, and
# the monthly cost line, e.g. `make check-deploy ARGS="-c alert_emails=you@example.com -c shard_count=2"`.
check-deploy: install
	$(BIN)/python -m stacks.check_deploy $(ARGS)
	WIRING_TEMPLATES_DIR=cdk.out $(BIN)/python -m pytest -q -s -p no:cacheprovider tests/infra/test_wiring.py \
	  -k test_user_templates_are_wired
	$(BIN)/python -m streamlake cost --summary $(ARGS)

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

# Minutes-long reliability runs (5 minutes at the 1-shard write limit), not part of `make test` or CI; prints what
# they measured as rows of the table in docs/reliability.md (run/soak-report.jsonl keeps them, run/soak-*.json the
# per-second samples). ARGS: --minutes N, --rate R (records/s in total), --shards S, --retention-seconds T,
# e.g. `make soak ARGS="--minutes 30 --rate 200"` or `make soak ARGS="--shards 2"`.
soak: $(VENV)/.installed
	@mkdir -p run && rm -f run/soak-report.jsonl
	RELIABILITY_REPORT=run/soak-report.jsonl $(BIN)/python -m pytest tests/reliability/test_load.py -m soak -q -s -p no:cacheprovider -p no:logging $(ARGS)
	@$(BIN)/python -m tests.reliability.report run/soak-report.jsonl

# Coverage-guided fuzzing (atheris) of every stage's decode -> validate -> enrich -> serialise, FUZZ_SECONDS long
# (10 minutes by default; `make test` runs 20 s of it). The corpus grows in run/fuzz/corpus across runs; a crash
# input lands in run/fuzz/ as crash-*: copy it to tests/data/hostile/fuzz/ (replayed by every `make test`) and fix.
FUZZ_SECONDS ?= 600
fuzz: $(VENV)/.installed
	@mkdir -p run/fuzz/corpus
	$(BIN)/python -m tests.fuzz.seeds run/fuzz/corpus
	$(BIN)/python -m tests.fuzz.stages -max_total_time=$(FUZZ_SECONDS) -dict=tests/fuzz/json.dict \
	  -rss_limit_mb=2048 -artifact_prefix=run/fuzz/ -print_final_stats=1 run/fuzz/corpus

# Mutation testing (cosmic-ray) of the core modules, each against the tests that cover it; minutes to hours, not part
# of `make test` or CI. `make mutate TARGETS="alarms writer"` picks targets (`python -m tests.mutation.mutate --list`).
# Mutants are applied to a copy under run/mutation/; scores and survivors: docs/testing.md.
mutate: $(VENV)/.installed
	$(BIN)/python -m tests.mutation.mutate $(TARGETS)

clean:
	rm -rf cdk.out run .pytest_cache .ruff_cache .hypothesis
