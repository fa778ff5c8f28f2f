#!/usr/bin/env bash
# Submit an LSTM study as Slurm job arrays: like submit_job.sh (same options, same Python: scaling_laws/submit/sbatch.py),
# but each array task gets 2 GPUs and 2 Slurm tasks, and trains each run on 2 ranks started with srun (DDP).
#
#   bash submit_lstm_job.sh [-N] STUDY [key=value ...] [options of submit_job.sh]
#
#   bash submit_lstm_job.sh -25 LSTM_SCALING --time 8:00:00   # 25 array tasks, 2 GPUs and 2 ranks each
#   bash submit_lstm_job.sh LSTM_SCALING --gpus 0              # a CPU cluster (the local test Slurm): 2 gloo ranks
#
# Options given here come after the defaults, so they win (--gpus 0, --ranks 4 --gpus 4).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$repo/submit_job.sh" --gpus 2 --ranks 2 "$@"
