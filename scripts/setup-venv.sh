#!/usr/bin/env bash
# Create .venv with Python 3.10 and install the pinned dependencies. Idempotent; prints progress.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
step() { printf '\n[setup] %s\n' "$*"; }
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))'; then
  PY=$(scripts/find-python310.sh)
  step "1/5 creating $VENV with $PY"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
else
  step "1/5 $VENV exists ($("$VENV/bin/python" --version))"
fi
step "2/5 installing pinned packages (first time: about 3 minutes and 2.8 GB — Rasa brings TensorFlow)"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip==26.3"
# constraints.txt pins every transitive package (it keeps Rasa's numpy 1.23.5, protobuf, setuptools 70.3).
set +o pipefail
"$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar on \
  -r requirements.txt -c constraints.txt 2>&1 | grep -v -e "^Requirement already satisfied" -e "is ignored: it is neither"
status=${PIPESTATUS[0]}
set -o pipefail
if [ "$status" -ne 0 ]; then echo "[setup] pip install failed (exit $status); see the messages above" >&2; exit "$status"; fi
"$VENV/bin/python" -m pip check >/dev/null || { "$VENV/bin/python" -m pip check; exit 1; }
step "3/5 a Chinese font (used to render SMS screenshots in the OCR tests)"
if ! bash scripts/install-font.sh; then
  if [ "${CI:-}" = "true" ]; then
    echo "[setup] error: CI=true and no Chinese font: the Chinese screenshot tests cannot run" >&2; exit 1
  fi
  echo "[setup] going on without it: the Chinese screenshot tests will be skipped on this machine"
fi
step "4/5 PostgreSQL for the store and multi-worker tests"
# CI installs it from the Debian packages (as root); a developer without it gets the SQLite tests only.
if ! bash scripts/pg-test-server.sh install; then
  if [ "${CI:-}" = "true" ]; then echo "[setup] CI needs PostgreSQL for its tests" >&2; exit 1; fi
  echo "[setup] PostgreSQL tests will be skipped on this machine"
fi
step "5/5 checking the install"
"$VENV/bin/python" -c 'import rasa, telegram, opencc, yaml, cryptography, rapidocr_onnxruntime, wechatpy, psycopg, psycopg_pool, greenlet, hyperscan; print("[setup] rasa", rasa.__version__, "| python-telegram-bot", telegram.__version__)'
