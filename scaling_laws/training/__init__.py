"""Training pieces the loop in core.py uses: optimizer and schedule, data, checkpoints, distributed context, device."""
