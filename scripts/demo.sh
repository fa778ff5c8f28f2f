#!/usr/bin/env bash
# Quick-start command 1: set up, run the DEMO study locally (CPU is fine), fit and plot it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
.venv/bin/python experiments.py DEMO --all
.venv/bin/python -m experimental_analysis.fit_scaling_analysis results/DEMO
