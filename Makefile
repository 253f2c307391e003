# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

export PYTHONHASHSEED := 0
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: run test bench clean venv

# Re-install only when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/builder gui

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -n auto --dist loadfile -m "not isolated"
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:xdist -m isolated

bench: $(STAMP)
	$(PY) benchmarks/analysis.py
	$(PY) benchmarks/templates.py
	$(PY) benchmarks/training.py
	$(PY) benchmarks/mask_rcnn.py

clean:
	rm -rf $(VENV) build *.egg-info
