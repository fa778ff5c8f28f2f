"""Submitting studies to Slurm: which runs, what resources, frozen manifests, the sbatch and submitit backends."""
