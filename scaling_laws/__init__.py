"""scaling_laws: everything behind the root entry points (core.py, experiments.py, experiment_utils.py).

Layers, each importing only those below it:
    submit/      what to submit, resources, manifests, the sbatch and submitit backends
    studies/     study registry, derived-field rules, loading definitions and overrides, tables
    running/     one attempt at a run: logs, heartbeats, status from files, signals, metadata
    training/    optimizer and schedule, data, checkpoints, distributed context, device
    models/      the architecture registry and each architecture (model, count, memory rule)
    config.py, validate.py, counting.py, status.py, results_layout.py   the schema and the results contract
"""
