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

.PHONY: install demo test lint clean weights

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt setup.py setup.cfg package.xml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade "pip>=24"
	$(PY) -m pip install -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/seg-perception demo

test: $(STAMP)
	$(PY) -m pytest -q test

lint: $(STAMP)
	$(VENV)/bin/ruff check seg_perception test launch

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache out
