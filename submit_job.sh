#!/usr/bin/env bash
# Submit a study as Slurm job arrays that checkpoint, requeue and resume (scaling_laws/submit/sbatch.py does the work).
#
#   bash submit_job.sh [-N] STUDY [key=value ...] [-c C] [--partition P] [--time T] [--gpus G]
#                      [--cpus C] [--mem M] [--grace-s S] [--rerun failed|all]
#                      [--definitions FILE] [--max-array-size M] [--dry-run]
#
#   bash submit_job.sh -50 DEMO -c 8 --time 4:00:00   # first 50 experiments, at most 8 at once
#   bash submit_job.sh DEMO --rerun failed            # only failed or missing runs
#   bash submit_job.sh --help                         # every option
#
# Python: $PYTHON, else the repository's .venv, else python3 on PATH.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-}"
if [ -z "$python" ]; then
    if [ -x "$repo/.venv/bin/python" ]; then python="$repo/.venv/bin/python"; else python=python3; fi
fi
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" -m scaling_laws.submit.sbatch "$@"
