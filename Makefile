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

.PHONY: install demo test lint clean weights check-docs build-tools

install: $(STAMP)

# A regular (not editable) install: editable installs skip data_files, and the ROS
# launchers, configs and weights must land in <prefix>/lib and <prefix>/share like
# a colcon install. Any source change re-installs the package (seconds, no deps).
PACKAGE_FILES := $(shell find seg_perception scripts config launch weights resource msg cmake -type f \
	-not -name '*.pyc' 2>/dev/null)
DEPS_STAMP := $(VENV)/.deps-installed

$(DEPS_STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -r requirements.txt -r requirements-dev.txt
	touch $(DEPS_STAMP)

# The package's message interfaces (msg/) are compiled by setup.py with cmake, a C/C++ compiler
# and the Python headers: installed with apt-get when missing and running as root, else named.
# build/interfaces keeps the CMake build between installs (a Python-only change: ~1 s of CMake).
$(STAMP): $(DEPS_STAMP) setup.py package.xml CMakeLists.txt $(PACKAGE_FILES)
	@$(MAKE) --no-print-directory build-tools
	$(PY) -m pip install --no-deps --no-build-isolation --force-reinstall .
	rm -rf build/lib* build/bdist.* *.egg-info
	touch $(STAMP)

BUILD_TOOLS_APT := cmake g++ make python3-dev
build-tools:
	@missing=""; \
	command -v cmake >/dev/null 2>&1 || missing="$$missing cmake"; \
	command -v g++ >/dev/null 2>&1 || missing="$$missing g++"; \
	$(PYTHON) -c 'import os, sys, sysconfig; sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
		|| missing="$$missing python3-dev"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing build tools for the message interfaces:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BUILD_TOOLS_APT); \
		else \
			echo "missing build tools for the message interfaces:$$missing. Run:" >&2; \
			echo "    sudo apt-get install -y $(BUILD_TOOLS_APT)" >&2; \
			exit 1; \
		fi; \
	fi

demo: $(STAMP)
	$(VENV)/bin/seg-perception demo

# colcon (for the test that builds the package in a colcon workspace) in a venv of its own:
# colcon-core pins setuptools and brings pytest plugins that the project venv should not get.
COLCON_VENV := $(VENV)/colcon
COLCON_STAMP := $(COLCON_VENV)/.installed
$(COLCON_STAMP):
	$(PYTHON) -m venv $(COLCON_VENV)
	$(COLCON_VENV)/bin/pip install -q colcon-common-extensions==0.3.0
	touch $(COLCON_STAMP)

test: $(STAMP) $(COLCON_STAMP)
	$(PY) -m pytest -q test

# Every command of README.md, weights/README.md and docs/ run in a scratch folder, reduced
# (train for 2 steps, ...) or marked as covered elsewhere with the reason (scripts/check_docs.py).
check-docs: $(STAMP)
	$(PY) scripts/check_docs.py

# ruff (lint and format) over everything, mypy (strict, configured in pyproject.toml) over the package.
lint: $(STAMP)
	$(VENV)/bin/ruff check seg_perception test launch scripts
	$(VENV)/bin/ruff format --check seg_perception test launch scripts
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache out
