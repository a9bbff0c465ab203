# The two commands of the quick start: `make run` and `make test`.
# Each creates or refreshes its own virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint setup system-packages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

## Runs the whole system: embedded NATS, all four services, the web form.
run: $(STAMP)
	$(BIN)/ticketcore up

## Runs every test (installs Chromium and nginx for the end-to-end tests when missing).
test: $(STAMP) system-packages
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

# Debian's chromium for the browser test and nginx for the public-origin test (the test
# starts its own nginx on loopback; the package's own service is not needed, and stopped
# where the install started it); needs root (as in CI) or sudo.
system-packages:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	{ command -v nginx || test -x /usr/sbin/nginx; } >/dev/null 2>&1 || missing="$$missing nginx"; \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	  case "$$missing" in *nginx*) \
	    $$SUDO systemctl disable --now nginx >/dev/null 2>&1 || true;; esac; \
	fi

clean:
	rm -rf $(VENV) data
