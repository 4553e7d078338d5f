# make demo  – build the demo index and print queries (creates .venv on first use)
# make test  – lint, type-check and run the whole test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint typecheck pytest bench browser clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

browser:
	@test -x /usr/bin/chromium || { (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) || echo "could not install chromium: browser tests will be skipped"; }

demo: $(STAMP)
	$(BIN)/omnivec demo

check: $(STAMP)
	$(BIN)/ruff check omnivec tests benchmarks
	$(BIN)/ruff format --check omnivec tests benchmarks
	$(BIN)/mypy

# Two workers, each test file on one worker (its module fixtures stay together): much of a
# serial run waits on Milvus Lite, model servers and subprocesses, which a second worker uses.
test: $(STAMP) browser check
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
