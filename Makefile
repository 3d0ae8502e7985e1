# The two commands: `make demo` and `make test`. Both run `make setup` first (idempotent).
SHELL := /bin/bash
VENV ?= .venv
PROFILE ?= mlip-autopipe
export PROFILE VENV

.PHONY: setup demo demo-labelling test docs lint clean-venv setup-production stop-production

setup:
	bash scripts/setup.sh

# The main job: a real Si campaign (pw.x, pacemaker, lmp) in the foreground, to convergence and validation
demo: setup
	$(VENV)/bin/verdi -p $(PROFILE) run examples/submit_campaign.py examples/campaign_si.yaml --foreground --export demo_export

# The first labelling tutorial: five structures with pw.x
demo-labelling: setup
	$(VENV)/bin/verdi -p $(PROFILE) run examples/label_structures.py

test: setup
	bash scripts/run_tests.sh

docs: setup
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples

# Production stack (PostgreSQL + RabbitMQ + daemon): see docs/production.rst
setup-production: setup
	bash scripts/production/setup.sh

stop-production:
	bash scripts/production/stop.sh

clean-venv:
	rm -rf $(VENV)
