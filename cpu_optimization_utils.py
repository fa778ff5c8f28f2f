"""CPU tuning as the original tool names it (a face over scaling_laws/training/cpu_threads.py)."""
from scaling_laws.training.cpu_threads import THREADS_ENV, available_cpus, configure_cpu_threads

__all__ = ["THREADS_ENV", "available_cpus", "configure_cpu_threads"]
