#!/usr/bin/env bash
# Install a CJK font (WenQuanYi Micro Hei) when none is present. Only the tests need it: they render SMS
# screenshots to check the OCR path. Uses apt-get as root or through sudo; otherwise says what to run.
# Exits 1 when no font is installed and none could be: the caller decides whether that stops the setup
# (scripts/setup-venv.sh stops under CI=true, where the Chinese OCR tests must run).
set -uo pipefail
# The same test as tests/fake_bot_api.py:find_cjk_font (any font fontconfig lists for Chinese), then the
# paths Debian's font packages use when fontconfig itself is missing.
if fc-list :lang=zh file 2>/dev/null | grep -q . \
  || compgen -G '/usr/share/fonts/*/*/*microhei*' >/dev/null || compgen -G '/usr/share/fonts/*/*/NotoSansCJK*' >/dev/null; then
  echo "[setup] a Chinese font is installed"; exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="none"; fi
fi
if [ "$SUDO" = "none" ] || ! command -v apt-get >/dev/null; then
  echo "[setup] no Chinese font and no way to install one (apt-get as root or with sudo)." >&2
  echo "[setup] To install it: sudo apt-get install fonts-wqy-microhei" >&2
  exit 1
fi
echo "[setup] installing fonts-wqy-microhei with apt-get (about 10 s)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q --no-install-recommends fonts-wqy-microhei >/dev/null 2>&1 \
  || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q --no-install-recommends fonts-wqy-microhei >/dev/null 2>&1; } \
  || { echo "[setup] apt-get could not install fonts-wqy-microhei" >&2; exit 1; }
echo "[setup] installed fonts-wqy-microhei"
