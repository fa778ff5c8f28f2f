"""scaling_laws/results_layout.py: the CSV contract."""
import pytest

from scaling_laws.results_layout import CSV_COLUMNS, MetricsCsv, read_metrics_rows


def full_row(step: int) -> dict:
    return {column: step for column in CSV_COLUMNS}


def test_append_takes_rows_with_exactly_the_csv_columns(tmp_path):
    metrics = MetricsCsv(tmp_path / "run.csv")
    metrics.start()
    metrics.append(full_row(1))
    with pytest.raises(ValueError, match=r"missing \['val_loss'\]"):
        metrics.append({k: v for k, v in full_row(2).items() if k != "val_loss"})
    with pytest.raises(ValueError, match=r"extra \['surprise'\]"):
        metrics.append({**full_row(2), "surprise": 1})
    metrics.close()
    assert [row["optimizer_step"] for row in read_metrics_rows(tmp_path / "run.csv")] == ["1"]
