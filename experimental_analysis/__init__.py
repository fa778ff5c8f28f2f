"""Scaling-law analysis of training results: loading (load_results) and fits (fit_scaling_analysis)."""
from .chinchilla import ChinchillaFit, fit_chinchilla
from .envelope import EnvelopeFit, fit_envelope
from .isoflop import IsoflopFit, fit_isoflop
from .kaplan import KaplanFit, fit_kaplan
from .learning_rate import best_learning_rates
from .load_results import FINAL_WINDOW, load_curves, load_runs

__all__ = ["load_runs", "load_curves", "FINAL_WINDOW", "fit_chinchilla", "ChinchillaFit", "fit_isoflop",
           "IsoflopFit", "fit_envelope", "EnvelopeFit", "fit_kaplan", "KaplanFit", "best_learning_rates"]
