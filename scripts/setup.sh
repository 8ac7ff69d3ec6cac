#!/usr/bin/env bash
# Create .venv (if missing) and install ponder into it, with the extras named in $1 (e.g. test).
# Everything comes from the package registry; pip's wheel cache makes every install after the
# first llama-cpp-python source build (about 7 minutes on 2 cores) take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
extras=${1:+[$1]}
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
# The test suite opens report.html in headless Chromium: Debian's package, when missing.
if [ "${1:-}" = "test" ] && ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing Debian's chromium for the report.html test"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "note: the report.html test needs Chromium; install it (apt-get install chromium)" >&2
    fi
fi
