# callgate: every set-up step lives here, so a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint serve bench policy-check redis clean

# The runtime install, enough for the demo and for serving.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The runtime plus the test extra (pytest, the official MCP SDK client, ruff, mypy).
$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/callgate demo

serve: $(VENV)/.installed
	$(BIN)/callgate serve

# Tests talk to a real redis-server; install Debian's package when it is missing.
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "redis-server not found; installing Debian's redis-server package"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server; \
	}

lint: $(VENV)/.installed-test
	$(BIN)/ruff check gateway agent_runtime tests bench
	$(BIN)/ruff format --check gateway agent_runtime tests bench
	$(BIN)/mypy

test: $(VENV)/.installed-test redis lint policy-check
	$(BIN)/python -m pytest

# The shipped policy files must pass their own checks and the security team's test table,
# and the shipped personal-data rules must find what the labelled evaluation set holds.
policy-check: $(VENV)/.installed
	$(BIN)/callgate policy check
	$(BIN)/callgate policy test policies/tests.yaml
	$(BIN)/callgate pii test --min-recall 0.98 --max-false-positive-rate 0.01

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var
