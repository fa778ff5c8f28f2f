#!/usr/bin/env bash
# Quick-start command 2: set up, start the private local Slurm (root), run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
bash scripts/local_slurm.sh up
.venv/bin/python -m pytest "$@"
