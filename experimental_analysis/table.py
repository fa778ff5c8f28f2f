"""Runs from a table (CSV or Parquet): one row per run, from a paper or another tool.

Columns by role (names configurable with ``--columns N=params,D=tokens,loss=final_loss``):
N (parameters), D (training tokens), loss (final loss), and optionally C (compute; default
6ND), N_non_embedding, learning_rate and label. The table becomes the frame load_runs returns,
every row a complete run, so the same selection, fits, report and figures apply (no training
curves: Approach 1 is skipped).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED_ROLES = ("N", "D", "loss")
OPTIONAL_ROLES = ("C", "N_non_embedding", "learning_rate", "label")
TABLE_SUFFIXES = (".csv", ".parquet")


def is_table(path: Path) -> bool:
    """Whether the analysis should read ``path`` as a table of runs."""
    return Path(path).suffix.lower() in TABLE_SUFFIXES


def parse_columns(spec: str) -> dict[str, str]:
    """'N=params,D=tokens' -> {'N': 'params', 'D': 'tokens', 'loss': 'loss', ...}: role -> column name."""
    names = {role: role for role in REQUIRED_ROLES + OPTIONAL_ROLES}
    for item in filter(None, (part.strip() for part in (spec or "").split(","))):
        role, sep, column = item.partition("=")
        if not sep or role not in names or not column:
            raise ValueError(f"--columns: {item!r} is not ROLE=COLUMN with ROLE one of "
                             f"{', '.join(REQUIRED_ROLES + OPTIONAL_ROLES)}")
        names[role] = column
    return names


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ValueError(f"{path}: no such file (a table of runs must be a .csv or .parquet file)")
    try:
        return pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    except Exception as error:  # pandas raises many kinds; the user needs the file and the reason
        raise ValueError(f"{path}: cannot be read as a table ({type(error).__name__}: {error})") from None


def _numeric(table: pd.DataFrame, column: str, path: Path) -> pd.Series:
    values = pd.to_numeric(table[column], errors="coerce")
    bad = values.isna() & table[column].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{path}: column {column!r} holds {table[column].iloc[row]!r} at row {row + 1}; "
                         "expected a number")
    return values


def load_table(path, columns: dict[str, str]) -> pd.DataFrame:
    """The runs of one table, in load_runs' columns (status complete; no best loss, no curves)."""
    path = Path(path)
    table = _read(path)
    missing = [role for role in REQUIRED_ROLES if columns[role] not in table]
    if missing:
        raise ValueError(f"{path}: no column {', '.join(repr(columns[r]) for r in missing)} for "
                         f"{', '.join(missing)} (it has: {', '.join(map(str, table.columns))}); name yours with "
                         f"--columns {','.join(f'{r}=COLUMN' for r in missing)}")
    N, D, loss = (_numeric(table, columns[r], path) for r in REQUIRED_ROLES)
    optional = {r: _numeric(table, columns[r], path) for r in ("C", "N_non_embedding", "learning_rate")
                if columns[r] in table}
    labels = table[columns["label"]].astype(str) if columns["label"] in table else \
        pd.Series([f"row{i + 1}" for i in range(len(table))])
    return pd.DataFrame({
        "folder": path.stem, "label": labels.to_numpy(), "path": str(path), "status": "complete",
        "total_params": N, "non_embedding_params": optional.get("N_non_embedding", np.nan), "tokens": D,
        "flops": optional.get("C", 6.0 * N * D), "flops_with_attention": np.nan,
        "learning_rate": optional.get("learning_rate", np.nan), "final_loss": loss, "final_val_loss": np.nan,
        "steps": np.nan, "dataset_sha256": None})
