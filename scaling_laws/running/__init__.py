"""One attempt at one run: the runner, its log and heartbeat, status from files, signals, Slurm environment, metadata."""
