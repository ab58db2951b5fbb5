# Two entry points for a fresh machine with Python 3.11 and pip:
#   make demo   set up .venv and score the embedded demo challenge end to end
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.vcc-installed
# Extra pytest arguments for `make test`, e.g. PYTEST_ARGS="-x tests/test_docker.py" (also read from the environment).
PYTEST_ARGS ?=

.PHONY: setup sandbox demo test fuzz lint bench docker-base docker-cpu docker-t4 test-docker clean

setup: sandbox $(STAMP)

# `vcc run` runs inflate only inside bubblewrap (or with an explicit --sandbox off): install it
# where we can (root with apt), otherwise say how.
sandbox:
	@if command -v bwrap >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing bubblewrap (inflate's sandbox for vcc run)"; \
	  apt-get install -y -q bubblewrap >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q bubblewrap >/dev/null; }; \
	else \
	  echo "vcc: bubblewrap is missing; vcc run refuses to run inflate without it (or pass --sandbox off)."; \
	  echo "     install it: sudo apt-get install -y bubblewrap   (Fedora: sudo dnf install bubblewrap)"; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "vcc needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The filter hides setuptools' information-only note that every editable install through
	# package-dir mappings prints ("Editable installation ... folders in your working directory");
	# real build warnings still show.
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: sandbox $(STAMP)
	$(BIN)/vcc demo

test: sandbox $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -rs $(PYTEST_ARGS)

# The differential fuzzing of archive extraction against unzip 6.0, longer than in `make test`
# (a new seed each run, printed; FUZZ_SEED=N repeats one).
FUZZ_CASES ?= 200000
FUZZ_SEED ?= new
fuzz: $(STAMP)
	FUZZ_SEED=$(FUZZ_SEED) FUZZ_CASES=$(FUZZ_CASES) $(BIN)/python -m pytest -q -s tests/test_zip_fuzz.py -k test_fuzz_against_unzip

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/bench_score.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# Docker (see docker/README.md). Where no image registry is reachable, build the base with
# debootstrap first and use the local profile: make docker-base && VCC_DOCKER_PROFILE=local make docker-cpu
docker-base:
	docker/build-base.sh

docker-cpu: $(STAMP)
	docker/build.sh cpu

docker-t4: $(STAMP)
	docker/build.sh t4

test-docker: $(STAMP)
	$(BIN)/python -m pytest -q -rs -m docker tests/test_docker.py tests/test_docker_unit.py tests/test_runner_docker.py
