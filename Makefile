# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the tests).
# Both create or reuse the virtual environment in $(VENV) and install stylestudy into it.

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch/torchvision are pinned here (pyproject allows a range for library users)
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
# pretrained weights the tests use; fetched once into a git-ignored cache
export STYLESTUDY_WEIGHTS_DIR ?= $(CURDIR)/.cache/weights
TEST_WEIGHTS ?= vgg16 alexnet vgg19-caffe-q8 magenta-predict magenta-transform

.PHONY: install demo test lint weights system-deps clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_PINS)
	$(PIP) install -q -e '.[all,test]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/stylestudy demo

# Debian chromium for the browser tests; pdflatex with booktabs for the analysis's LaTeX
# (main.tex is compiled in the tests); the local PostgreSQL server for the db tests;
# the local Redis server for the shared rate limits.
system-deps:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)
	@(command -v pdflatex >/dev/null && kpsewhich booktabs.sty >/dev/null) || (apt-get update -qq && apt-get install -y -qq texlive-latex-base texlive-latex-recommended texlive-fonts-recommended >/dev/null)
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || (command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server >/dev/null); redis-server --daemonize yes --save "" --appendonly no >/dev/null)

weights: install
	$(if $(TEST_WEIGHTS),$(VENV)/bin/stylestudy weights fetch --no-torchvision-url $(TEST_WEIGHTS),@true)

test: install system-deps weights
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .cache stylestudy_data
