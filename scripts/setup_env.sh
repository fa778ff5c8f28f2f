#!/usr/bin/env bash
# Create .venv with the pinned dependencies; a no-op when they are already installed.
# TORCH_VERSION (default 2.13.0, a CPU build where one is on disk) and PYTHON may be overridden.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
VENV=${VENV:-.venv}
stamp="$VENV/.installed-$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)-torch-$TORCH_VERSION"
[ -f "$stamp" ] && exit 0

if [ ! -x "$VENV/bin/pip" ]; then
  rm -rf "$VENV"
  if ! "$PYTHON" -m venv "$VENV"; then
    echo "setup_env: '$PYTHON -m venv' failed; installing Debian's python3-venv (needs root)" >&2
    rm -rf "$VENV"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    "$PYTHON" -m venv "$VENV"
  fi
fi
echo "setup_env: installing torch==$TORCH_VERSION and requirements.txt into $VENV"
"$VENV/bin/pip" install -q "torch==$TORCH_VERSION" -r requirements.txt
"$VENV/bin/pip" install -q --no-deps --no-build-isolation -e . 2>/dev/null \
  || "$VENV/bin/pip" install -q --no-deps -e .
rm -f "$VENV"/.installed-*
touch "$stamp"
