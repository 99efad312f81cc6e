# The original exercise's make habits, on top of ./dockhard and the scripts.
# Each target is one or two commands; `make help` lists them.
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= $(or $(DOCKHARD_DEMO_HOST),dockhard-local)
export DOCKHARD_DEMO_HOST := $(HOST)

.PHONY: help start stop check scan host-security measure docs docs-check test bench demo-story

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

start:  ## the local EC2-like host, converged, with the app behind nginx (./dockhard demo)
	./dockhard demo

stop:  ## remove the local host (./dockhard demo-down)
	./dockhard demo-down

check:  ## bandit on the hardened app (fails on HIGH), pip-audit of its pinned dependencies; fails when no vulnerability source answers unless DOCKHARD_OFFLINE_OK=1
	./dockhard check

scan:  ## per image: packages, pending Debian security updates (CIS 4.4), SBOM; DOCKHARD_CVE_SCANNER adds Trivy/Grype
	./dockhard scan

host-security:  ## CIS audit of the host; prints where the reports are (./dockhard audit)
	./dockhard audit

measure:  ## run the scans and probes behind docs/summary_report.md (docs/src/measurements.json)
	$(PY) scripts/measure.py --host $(HOST)

docs: measure  ## regenerate threat model, diagram (.dot, PNG) and summary report
	@command -v dot >/dev/null || apt-get install -y -q --no-install-recommends graphviz
	$(PY) scripts/gen_docs.py

docs-check:  ## fail when a generated doc is stale (also a unit test)
	$(PY) scripts/gen_docs.py --check

test:  ## the whole suite: lint, unit tests, Molecule (./dockhard test)
	./dockhard test

bench:  ## benchmarks, from a fresh clone too (./dockhard bench = scripts/bench.py); a full run rewrites docs/src/bench.json and the docs made from it
	./dockhard bench

demo-story:  ## before/after story, recorded under docs/demo/ (scripts/demo_story.sh)
	@command -v asciinema >/dev/null || apt-get install -y -q --no-install-recommends asciinema
	bash scripts/demo_story.sh
