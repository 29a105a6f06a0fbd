# 催收维权助手 — one command to set up and test (`make test`), one to chat (`make run`).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

.PHONY: setup run train validate test lint bench clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): requirements.txt constraints.txt scripts/setup-venv.sh scripts/install-font.sh scripts/pg-test-server.sh
	@bash scripts/setup-venv.sh
	@touch $(STAMP)

setup: $(STAMP)  ## create .venv (Python 3.10), install pinned deps, train the model if its data changed
	@$(PY) -m bot train

run: setup  ## set up on first use, then every channel with credentials (Telegram, WeChat), else the terminal chat
	@$(PY) -m bot run

train: $(STAMP)  ## train the Rasa NLU model (skipped when the data is unchanged; FORCE=1 retrains)
	@$(PY) -m bot train $(if $(FORCE),--force,)

validate: $(STAMP)  ## rasa data validate on the training data
	@$(PY) -m bot validate

test: setup  ## set up, then run the whole test suite
	@$(PY) -m pytest

lint: $(STAMP)  ## ruff check, ruff format --check, mypy
	@$(VENV)/bin/ruff check bot tests bench scripts
	@$(VENV)/bin/ruff format --check bot tests bench scripts
	@$(VENV)/bin/mypy bot

bench: setup  ## run every benchmark (prints tables)
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:  ## remove the venv, models and local data
	rm -rf $(VENV) rasa_project/models rasa_project/.build
