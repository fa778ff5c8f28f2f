"""scaling_laws/results_layout.py: the CSV contract."""
import pytest

from scaling_laws.config import ConfigError
from scaling_laws.results_layout import (CSV_COLUMNS, MetricsCsv, put_back, read_metrics_rows, results_root,
                                         run_paths_for, set_aside)


def full_row(step: int) -> dict:
    return {column: step for column in CSV_COLUMNS}


def test_append_takes_rows_with_exactly_the_csv_columns(tmp_path):
    metrics = MetricsCsv(tmp_path / "run.csv")
    metrics.start_fresh()
    metrics.append(full_row(1))
    with pytest.raises(ValueError, match=r"missing \['val_loss'\]"):
        metrics.append({k: v for k, v in full_row(2).items() if k != "val_loss"})
    with pytest.raises(ValueError, match=r"extra \['surprise'\]"):
        metrics.append({**full_row(2), "surprise": 1})
    metrics.close()
    assert [row["optimizer_step"] for row in read_metrics_rows(tmp_path / "run.csv")] == ["1"]


def test_resume_keeps_exactly_the_recorded_rows_or_refuses(tmp_path):
    path = tmp_path / "run.csv"
    metrics = MetricsCsv(path)
    metrics.start_fresh()
    for step in (1, 2, 3):
        metrics.append(full_row(step))
    rows, digest = metrics.sync()
    metrics.append(full_row(4))  # after the "checkpoint"
    metrics.close()
    with open(path, "a") as handle:
        handle.write("5,5,5")  # torn

    resumed = MetricsCsv(path)
    assert resumed.resume(rows, digest) and resumed.rows == 3
    resumed.append(full_row(4))
    assert resumed.sync() == straight_through(tmp_path / "again.csv", 4)
    resumed.close()
    assert [row["optimizer_step"] for row in read_metrics_rows(path)] == ["1", "2", "3", "4"]

    text = path.read_text()
    path.write_text(text.replace("\n2,", "\n7,", 1))  # a recorded row that changed
    assert not MetricsCsv(path).resume(4, digest) and path.read_text() == text.replace("\n2,", "\n7,", 1)
    path.write_text(text.splitlines(keepends=True)[0] + "".join(text.splitlines(keepends=True)[1:3]))
    assert not MetricsCsv(path).resume(3, digest)  # fewer rows than recorded
    assert not MetricsCsv(tmp_path / "missing.csv").resume(1, digest)


def straight_through(path, count: int) -> tuple[int, str]:
    """(rows, digest) of a CSV written straight through with ``count`` rows."""
    metrics = MetricsCsv(path)
    metrics.start_fresh()
    for step in range(1, count + 1):
        metrics.append(full_row(step))
    result = metrics.sync()
    metrics.close()
    return result


def test_set_aside_and_put_back_restore_every_result_file(tmp_path):
    paths = run_paths_for("S", "r", root=tmp_path)
    paths.folder.mkdir(parents=True)
    for path in (paths.csv, paths.done_marker, paths.config_json, paths.log):
        path.write_text(path.name)
    moves = set_aside(paths, paths.folder / ".discarded" / "t")
    assert not paths.csv.exists() and paths.log.exists()  # the log stays: it is appended across attempts
    assert sorted(p.name for p in (paths.folder / ".discarded" / "t").iterdir()) == \
        sorted([paths.csv.name, paths.done_marker.name, paths.config_json.name])
    put_back(moves)
    assert paths.csv.read_text() == paths.csv.name and not (paths.folder / ".discarded").exists()


def test_a_results_dir_that_is_a_file_is_refused(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("SCALING_RESULTS_DIR", str(tmp_path / "file"))
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        results_root()
