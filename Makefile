# drover.libvirt: `make demo` shows a real live migration on the lab; `make test` runs everything.
# Both install what they need on a fresh Debian 12 machine (run as root).
SHELL := /bin/bash
VENV := $(CURDIR)/.venv
PYTHON ?= python3
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
COLLECTION := build/ansible_collections/drover/libvirt
# Outside the checkout (ansible-test would otherwise ask git, which ignores build/), one per checkout.
SANITY_ROOT := /tmp/drover.libvirt-sanity-$(shell echo '$(CURDIR)' | md5sum | cut -c1-8)
SANITY_TREE := $(SANITY_ROOT)/ansible_collections/drover/libvirt

.PHONY: help deps tools venv collection lab lab-down demo test unit sanity lint docs integration molecule molecule-ci clean bench chaos bench-scale

help:
	@echo "make demo         install, bring up the lab, evacuate hv1 (4 guests) live, show the report"
	@echo "make test         install, then unit, sanity, lint, integration (lab) and Molecule"
	@echo "make lab          bring up the lab (3 hypervisors, 4 guests on hv1)"
	@echo "make lab-down     remove everything the lab created"
	@echo "make bench        measure on a fresh lab, links capped at 100 Mbit/s: evacuation against a naive virsh loop,"
	@echo "                 overhead, convergence presets, downtime (about 25 min; BENCH_QUICK=1 for a short run);"
	@echo "                 writes bench/results.json, bench/results.png and docs/performance.md"
	@echo "make bench-scale  measure evacuation time against fleet size (3, 12, 30 hosts); the planner"
	@echo "make chaos        inject 54 faults into real moves on the lab, audit every host after each, re-run (chaos/results.json)"
	@echo "make unit|sanity|lint|docs|integration|molecule   one stage of make test"
	@echo "                 (unit, sanity, lint and docs need neither root nor the lab)"
	@echo "make docs         check every plugin's documentation and the changelog; render the reference into docs/reference/"

# Debian packages for the lab and libvirt-python (root).
deps:
	@bash lab/install-deps

# Two stages of one virtualenv. tools: what unit, lint and sanity need, from wheels, no root and
# no system packages. venv: tools plus libvirt-python, which builds against libvirt-dev (deps
# installs it); the lab, integration, Molecule and demo use it.
$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

$(VENV)/.installed-lab: $(VENV)/.installed requirements-lab.txt | deps
	$(VENV)/bin/pip install -q -r requirements-lab.txt
	touch $@

tools: $(VENV)/.installed

venv: deps $(VENV)/.installed-lab

# Ansible finds the collection through build/ (see collections_path in ansible.cfg).
collection:
	@mkdir -p $(dir $(COLLECTION))
	@ln -sfn ../../.. $(COLLECTION)

lab: venv collection
	lab/lab up

lab-down:
	lab/lab down

demo: venv collection
	lab/lab up
	ansible-playbook playbooks/evacuate.yml -l hv1 -e evacuate_verify_probe_command=$(CURDIR)/lab/alive
	lab/lab status
	@echo "hv1 is drained and marked in maintenance; reports are in playbooks/reports/. The lab stays up for you to explore"
	@echo "(lab/lab status, lab/lab exec hv2 -- virsh list); 'make lab-down' removes it."

test: venv collection
	$(MAKE) --no-print-directory unit sanity lint docs molecule-ci integration

unit: tools collection
	pytest -q tests/unit

# ansible-test wants the tracked files at ansible_collections/NAMESPACE/NAME.
# ansible-test builds one virtualenv per test and bootstraps pip into each with a script it
# fetches from its own file host; tests/sanity/get_pip_offline.py stands in for it (see there).
SANITY_PIP_CACHE := $(HOME)/.ansible/test/cache
sanity: tools
	rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_TREE) $(SANITY_PIP_CACHE)
	git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t $(SANITY_TREE)
	for v in 24_2 25_3; do cp tests/sanity/get_pip_offline.py $(SANITY_PIP_CACHE)/get_pip_$$v.py; done
	cd $(SANITY_TREE) && ansible-test sanity --venv --python 3.11 --color no

lint: tools collection
	ansible-lint --profile production --offline

# The plugin reference (modules, filters, roles) as antsibull-docs renders it from the collection,
# into docs/reference/ (not committed: it is made from the plugins' own documentation, which stays
# the one source), after antsibull-docs' checks of every plugin's and role's documentation
# (schema, markup, references); then the changelog fragments are linted.
DOCS_REFERENCE := docs/reference
docs: tools collection
	antsibull-docs lint-collection-docs --plugin-docs --validate-collection-refs all \
		--disallow-unknown-collection-refs $(COLLECTION)
	rm -rf $(DOCS_REFERENCE) && mkdir -p $(DOCS_REFERENCE)
	antsibull-docs collection --use-current --squash-hierarchy --fail-on-error --output-format simplified-rst \
		--no-add-antsibull-docs-version --dest-dir $(DOCS_REFERENCE) drover.libvirt
	antsibull-changelog lint
	@echo "plugin reference: $(DOCS_REFERENCE)/index.rst"

# The test modules on INTEGRATION_LABS labs at once (each module brings up its own lab and takes it
# down); see tests/integration/run_labs.py. INTEGRATION_LABS=1 runs them one after another.
INTEGRATION_LABS ?= 2
integration: venv collection
	python tests/integration/run_labs.py --labs $(INTEGRATION_LABS) -- --durations=30 --durations-min=15

molecule: venv collection
	cd extensions && molecule test --all

# make test runs the scenarios whose flows no integration test runs whole; the rolling scenario
# repeats tests/integration/test_rolling.py's full run, so it runs with `make molecule` only.
molecule-ci: venv collection
	cd extensions && molecule test -s evacuate && molecule test -s migrate

# Long measurements, outside make test; results in bench/results.json. bench replaces a running lab
# with a fresh one (3 hosts, no guests: each benchmark brings its own) and takes it down at the end.
BENCH_ARGS := $(if $(BENCH_QUICK),--quick,)
bench: venv collection
	lab/lab down
	lab/lab up --guests 0
	python bench/evacuation.py $(BENCH_ARGS) && python bench/convergence.py $(BENCH_ARGS) \
		&& python bench/downtime.py $(BENCH_ARGS); rc=$$?; lab/lab down; exit $$rc
	python bench/report.py

bench-scale: venv collection
	python bench/scale.py
	python bench/planner_scale.py

clean:
	-lab/lab down
	rm -rf build

# The fault campaign (long; tests/integration/test_chaos.py runs a short one in make test).
# CHAOS_SEED replays a campaign.
chaos: venv collection
	python chaos/campaign.py --faults $(or $(CHAOS_FAULTS),54) $(if $(CHAOS_SEED),--seed $(CHAOS_SEED))
