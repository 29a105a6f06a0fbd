#!/usr/bin/env bash
# Print the path of a working Python 3.10 (Rasa 3.6 needs < 3.11), or explain how to get one.
# Order: a `python3.10` on PATH that really runs, then pyenv's 3.10, then a clear error.
set -u
ok() { "$1" -c 'import sys, venv; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' >/dev/null 2>&1; }
if command -v python3.10 >/dev/null 2>&1 && ok python3.10; then command -v python3.10; exit 0; fi
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
for p in $(ls -d "$root"/versions/3.10.*/bin/python 2>/dev/null | sort -V -r); do
  if ok "$p"; then echo "$p"; exit 0; fi
done
cat >&2 <<'MSG'
error: no working Python 3.10 found (Rasa 3.6.21 needs Python 3.10; 3.11+ will not install it).
Install one, then run make again:
  - with pyenv:   pyenv install 3.10.13
  - on Debian/Ubuntu: sudo apt install python3.10 python3.10-venv   (e.g. from the deadsnakes PPA)
MSG
exit 1
