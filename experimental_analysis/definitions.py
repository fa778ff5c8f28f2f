"""Which N and C the fits use: total or non-embedding parameters, 6ND or 6ND plus attention.

The fits read the columns ``total_params`` (N) and ``flops`` (C); ``with_definitions`` puts the
chosen definition into them (working copies; load_runs' frames keep the raw columns too).
Defaults, and why: total parameters and C = 6ND, as Hoffmann et al. (2022) and Besiroglu et al.
(2024) fit them, so exponents compare with the published ones. Kaplan et al. (2020) fit L(N)
on non-embedding parameters (``--params non_embedding``); 6ND leaves out attention, whose share
of the compute falls with width and so tilts compute exponents (``--flops with_attention``).
Approach 3's N_opt(C), D_opt(C) stay under C = 6ND, the relation that law is solved under.
"""
from __future__ import annotations

import pandas as pd

PARAMS = {"total": ("total_params", "N = total parameters"),
          "non_embedding": ("non_embedding_params", "N = non-embedding parameters")}
FLOPS = {"chinchilla": ("theoretical_flops_chinchilla", "C = 6ND"),  # load_runs / load_curves call it flops
         "with_attention": ("flops_with_attention", "C = 6ND + attention FLOPs")}
DEFAULT_PARAMS, DEFAULT_FLOPS = "total", "chinchilla"


def axis_labels(params: str, flops: str) -> tuple[str, str]:
    """Figure labels of N and C, with units and the definition in use."""
    n = "non-embedding" if params == "non_embedding" else "total"
    c = "6ND + attention" if flops == "with_attention" else "6ND"
    return f"parameters N ({n}, count)", f"compute C (FLOPs, {c})"


def describe(params: str, flops: str) -> str:
    """'N = ..., C = ...' for the printout, fit.json and figure labels."""
    return f"{PARAMS[params][1]}, {FLOPS[flops][1]}"


def with_definitions(frame: pd.DataFrame, params: str, flops: str) -> pd.DataFrame:
    """A copy (of load_runs' or load_curves' frame) whose total_params and flops hold the chosen N and C;
    missing values become NaN."""
    out = frame.copy()
    out["total_params"] = pd.to_numeric(out[PARAMS[params][0]], errors="coerce")
    if flops == "with_attention":
        out["flops"] = pd.to_numeric(out["flops_with_attention"], errors="coerce")
    return out


def missing_notes(runs: pd.DataFrame, params: str, flops: str) -> list[str]:
    """Warnings for runs that lack the chosen N or C (e.g. CSVs older than flops_with_attention)."""
    notes = []
    for choice, (column, _), values in ((params, PARAMS[params], runs["total_params"]),
                                        (flops, FLOPS[flops], runs["flops"])):
        missing = int(values.isna().sum())
        if missing:
            notes.append(f"{missing} run(s) have no {column} (chosen by {choice}; e.g. a CSV written before that "
                         "column existed): they are excluded")
    return notes
