# Everything installs itself: Python packages into .venv, Node.js 24 from PyPI into .venv, the pinned CDK CLI into
# node_modules. Needs only python3 (3.11+), git and make.
#   make synth             synthesize config/dev.yaml (or ENV=name, or CONFIG=path) to cdk.out/, offline
#   make test              run the whole test suite (one process per core: pytest.ini)
#   make deploy ENV=prod   cdk deploy -c env=prod: the environment's stack (needs AWS credentials)
#   make diff ENV=prod     cdk diff -c env=prod (needs AWS credentials)
#   make secrets ENV=prod  the secrets stack of an environment with managed_secrets, once before its first deploy
#   make verify ENV=prod   is the deployed environment working? (read-only; needs AWS credentials)
#   make schema            regenerate config/schema.json and the settings table in docs/configuration.md
#   make bench             synth time of each example and environment as a ratio to a one-resource app's; suite wall time
#   make cost ENV=prod     estimated monthly cost of an environment's stacks, resource by resource (synthesizes first)
#   make prices REGION=eu-west-1  rebuild portkey_gateway/prices.yaml from the AWS Price List (needs the internet)
#   make audit ENV=prod    checkov on an environment's synthesized stacks (its own pinned environment, .audit-venv)
#   make diagram ENV=prod  the architecture picture of an environment, docs/architecture-<env>.png (synthesizes first)
#   make docs              the documentation site (docs/, mkdocs.yml) into site/, offline; a broken link fails it
#   make pipeline-deploy   deploy the delivery pipeline of config/pipeline.yaml once (then pushes deploy)

# Resolved before .venv/bin goes onto PATH, so a reinstall never builds the venv from itself.
ifndef PYTHON
PYTHON := $(shell command -v python3)
endif
VENV := .venv
PY := $(VENV)/bin/python
ENV ?= dev
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_DISABLE_CLI_TELEMETRY := true

# The CLI pinned in package-lock.json, started directly (npx would add a quarter of a second to each command).
CDK := node_modules/.bin/cdk
TARGET := $(if $(CONFIG),-c config=$(CONFIG),-c env=$(ENV))

.PHONY: install synth test deploy diff secrets verify schema bench clean pipeline-synth pipeline-deploy cost prices diagram audit docs

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { echo "python3 cannot create virtual environments: install python3-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) scripts/node_shims.py $(VENV)/bin
	touch $@

node_modules/.installed: package.json package-lock.json $(VENV)/.installed
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

synth: install
	$(CDK) synth --no-lookups --no-notices -q $(TARGET)
	@echo "Synthesized $(if $(CONFIG),$(CONFIG),config/$(ENV).yaml) to cdk.out/"

test: install
	$(PY) -m pytest

# One stack per environment: no stack name needed (the secrets stack is deployed on request, below).
deploy: install
	$(CDK) deploy --no-notices $(TARGET)

diff: install
	$(CDK) diff --no-notices $(TARGET)

secrets: install
	$(CDK) deploy --no-notices $(TARGET) -c secrets=true

# VERIFY_ARGS passes options, e.g. VERIFY_ARGS="--role-arn arn:aws:iam::...:role/..." or "--no-http".
verify: install
	$(PY) -m portkey_gateway.verify $(if $(CONFIG),--config $(CONFIG),--env $(ENV)) $(VERIFY_ARGS)

# The delivery pipeline (config/pipeline.yaml): its synth step runs `make test` then this; deploy it once by hand.
pipeline-synth: install
	$(CDK) synth --no-lookups --no-notices -q -c pipeline=true

pipeline-deploy: install
	$(CDK) deploy --no-notices -c pipeline=true

schema: install
	$(PY) -m portkey_gateway.reference --write

bench: install
	$(PY) scripts/bench.py

# COST_ARGS changes the usage assumptions, e.g. COST_ARGS="--traffic-gb 500 --log-gb 20".
cost: synth
	$(PY) -m portkey_gateway.cost cdk.out $(COST_ARGS)

# The price table from the AWS Price List's public offer files (no credentials; needs the internet), for REGION.
prices: install
	$(PY) -m portkey_gateway.price_list --region $(or $(REGION),us-east-1) -o portkey_gateway/prices.yaml

# checkov in an environment of its own (its dependencies would conflict with the app's), every package pinned.
AUDIT_VENV := .audit-venv
$(AUDIT_VENV)/.installed: requirements-audit.txt
	$(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/pip install --quiet -r requirements-audit.txt
	touch $@

audit: install $(AUDIT_VENV)/.installed
	$(PY) scripts/audit.py $(if $(CONFIG),--config $(CONFIG),--env $(ENV)) --checkov $(AUDIT_VENV)/bin/checkov

# docs/architecture-<env or config name>.png, or OUT=path.
diagram: synth
	$(PY) -m portkey_gateway.diagram cdk.out -o $(or $(OUT),docs/architecture-$(if $(CONFIG),$(basename $(notdir $(CONFIG))),$(ENV)).png)

# MkDocs with the Material theme; --strict turns every warning (a broken link or anchor, a page left out of the nav)
# into a failure. NO_MKDOCS_2_WARNING silences Material's end-of-life notice, printed on every build.
docs: install
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site
	@echo "Built the documentation into site/: open site/index.html"

clean:
	rm -rf cdk.out .pytest_cache site
