# The course's entry points. Every target sets up .venv on first use (and again when
# requirements.txt or pyproject.toml change), so a fresh clone needs only `make book` or `make test`.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
READY  := $(VENV)/.ready
JOBS   ?= 2
PORT   ?= 8000
HTML   := _build/html
PDF    := _build/pdf/learning-rates-course.pdf
PYTEST_ARGS ?=

# TensorFlow's C++ logging and oneDNN notices would otherwise leak into outputs and logs.
export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS := 0
export PYTHONHASHSEED := 0

# Every notebook that has a MyST source (the .md files with a kernelspec header).
NOTEBOOK_SOURCES = $(shell grep -l '^kernelspec:' book/*.md exercises/*.md solutions/*.md 2>/dev/null)

.PHONY: help venv book student-book pdf test check-platforms benchmark lab serve sync execute clean

help:
	@echo "make book          build the site into $(HTML) (warnings are errors)"
	@echo "make test          run every test: notebooks (nbval, here and as another machine), pairing, grader, book"
	@echo "make check-platforms  ask pip whether every pin has a wheel on Linux, macOS and Windows (needs PyPI)"
	@echo "make lab           open JupyterLab; .md notebooks open as notebooks"
	@echo "make serve         serve the built site on http://localhost:$(PORT)"
	@echo "make student-book  build the site without solutions into _build/student/html"
	@echo "make pdf           the whole book as one PDF: $(PDF) (needs chromium)"
	@echo "make sync          write each .md notebook into its .ipynb twin (code and text only)"
	@echo "make execute       sync, then re-execute notebooks and store their outputs (NB=path.md for one)"
	@echo "make benchmark     time the grader on a class of 20 submissions"
	@echo "make clean         remove builds and caches (keeps .venv)"

venv: $(READY)

$(READY): requirements.txt pyproject.toml
	@# TensorFlow 2.21 has wheels for Python 3.11 to 3.13 only: say so, before pip fails obscurely
	@$(if $(wildcard $(PY)),$(PY),$(PYTHON)) course/supported_python.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip==26.3"
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

book: $(READY)
	$(BIN)/jupyter-book build . --builder html -W -n --keep-going
	@echo "The book is at $(abspath $(HTML))/index.html"

# For instructors who grade for credit: the same site without the Solutions part.
student-book: $(READY)
	$(BIN)/jupyter-book build . --toc _toc_student.yml --path-output _build/student --builder html -W -n --keep-going
	@echo "The student book (no solutions) is at $(abspath _build/student/_build/html)/index.html"

# The whole book as one PDF, offline: a single-page build printed by headless Chromium
# (course/pdf.py says how). No LaTeX needed.
pdf: $(READY)
	$(BIN)/jupyter-book build . --builder singlehtml --path-output _build/pdf -W -n --keep-going
	$(PY) -m course.pdf _build/pdf/_build/singlehtml $(PDF)

# pytest exits 5 when it collected nothing: that is a broken configuration, not a pass.
test: $(READY)
	@$(PY) -m pytest -n $(JOBS) $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$status

# Every pin has a wheel for Linux x86-64 and aarch64, macOS arm64 and Windows, Python 3.11-3.13.
check-platforms: $(READY)
	$(PY) .ci/check_platforms.py

# Jupytext's contents manager lets JupyterLab open a paired .md as a notebook; the override
# makes a double click do so (right click, Open With, Notebook works either way).
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
benchmark: $(READY)
	$(PY) -m benchmarks.grading

lab: $(READY)
	@mkdir -p $(dir $(LAB_OVERRIDES))
	@echo '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}}}' > $(LAB_OVERRIDES)
	$(BIN)/jupyter lab

serve:
	@test -f $(HTML)/index.html || $(MAKE) book
	$(PY) -m http.server $(PORT) --bind 127.0.0.1 --directory $(HTML)

sync: $(READY)
	$(BIN)/jupytext --sync $(NOTEBOOK_SOURCES)

execute: $(READY)
	$(PY) -m course.execute $(or $(NB),$(NOTEBOOK_SOURCES))

clean:
	rm -rf _build .pytest_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
	find . -name .ipynb_checkpoints -not -path './$(VENV)/*' -prune -exec rm -rf {} +
