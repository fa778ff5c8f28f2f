"""Scaling-law analysis of training results: the package's one public face.

Loading (load_runs, load_curves; the fit target in final_loss.py), the fits (fit_chinchilla, fit_isoflop, fit_envelope, fit_kaplan,
best_learning_rates, fit_power_law), and the table that runs them all (FITS, run_all_fits). The
command line is ``python -m experimental_analysis.fit_scaling_analysis``.
"""
from .analysis import Analysis, compute_frontier, extrapolation_check
from .chinchilla import ChinchillaFit, fit_chinchilla
from .envelope import EnvelopeFit, fit_envelope
from .fits import FITS, Fit, FitInputs, report_lines, run_all_fits, write_plots
from .isoflop import IsoflopFit, fit_isoflop
from .kaplan import KaplanFit, fit_kaplan
from .learning_rate import best_learning_rates
from .final_loss import DIVERGENCE_RATIO, final_loss
from .load_results import load_curves, load_runs
from .power_law import PowerLaw, fit_power_law

__all__ = ["load_runs", "load_curves", "final_loss", "DIVERGENCE_RATIO", "fit_chinchilla", "ChinchillaFit",
           "fit_isoflop", "IsoflopFit", "fit_envelope", "EnvelopeFit", "fit_kaplan", "KaplanFit", "best_learning_rates",
           "fit_power_law", "PowerLaw", "Analysis", "compute_frontier", "extrapolation_check", "FITS", "Fit",
           "FitInputs", "run_all_fits", "report_lines", "write_plots"]
