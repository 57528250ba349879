# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The ROS wheels find their libraries and the package share through these.
export AMENT_PREFIX_PATH := $(abspath $(VENV))
export RMW_IMPLEMENTATION ?= rmw_fastrtps_cpp
export NO_ALBUMENTATIONS_UPDATE := 1
export PYTHONUNBUFFERED := 1

.PHONY: install demo test lint clean weights check-docs

install: $(STAMP)

# A regular (not editable) install: editable installs skip data_files, and the ROS
# launchers, configs and weights must land in <prefix>/lib and <prefix>/share like
# a colcon install. Any source change re-installs the package (seconds, no deps).
PACKAGE_FILES := $(shell find seg_perception scripts config launch weights resource -type f \
	-not -name '*.pyc' 2>/dev/null)
DEPS_STAMP := $(VENV)/.deps-installed

$(DEPS_STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -r requirements.txt -r requirements-dev.txt
	touch $(DEPS_STAMP)

$(STAMP): $(DEPS_STAMP) setup.py setup.cfg package.xml $(PACKAGE_FILES)
	$(PY) -m pip install --no-deps --no-build-isolation --force-reinstall .
	rm -rf build *.egg-info
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/seg-perception demo

test: $(STAMP)
	$(PY) -m pytest -q test

# Every command of README.md, weights/README.md and docs/ run in a scratch folder, reduced
# (train for 2 steps, ...) or marked as covered elsewhere with the reason (scripts/check_docs.py).
check-docs: $(STAMP)
	$(PY) scripts/check_docs.py

lint: $(STAMP)
	$(VENV)/bin/ruff check seg_perception test launch

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache out
