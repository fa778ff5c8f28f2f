"""Peak memory and throughput of the prepare command as the corpus grows: memory must stay flat.

    python benchmarks/prepare_data.py [--scratch DIR] [--sizes-mb 16 128] [--bpe-sizes-mb 4 32]

Builds corpora of the given sizes from the standard-library sources (JSONL documents, and one
text file that is a single huge line), runs ``python -m scaling_laws.data.prepare`` on each in a
child process, samples its resident memory every 20 ms, and prints size, seconds, MB/s and peak
RSS side by side. The BPE rows use a tokenizer.json trained once on a 2 MB sample, so they time
encoding alone. Throughput depends on the machine's load; memory does not.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def stdlib_documents() -> list[str]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return [p.read_text(encoding="utf-8", errors="replace") for p in sorted(root.rglob("*.py"))[:2000]]


def write_jsonl(path: Path, documents: list[str], size_bytes: int) -> Path:
    written, index = 0, 0
    with open(path, "w") as handle:
        while written < size_bytes:
            line = json.dumps({"text": f"# copy {index}\n" + documents[index % len(documents)]}) + "\n"
            handle.write(line)
            written += len(line)
            index += 1
    return path


def write_one_line(path: Path, documents: list[str], size_bytes: int) -> Path:
    piece = " ".join(documents[:50]).replace("\n", " ")
    with open(path, "w") as handle:
        for _ in range(size_bytes // len(piece) + 1):
            handle.write(piece)
    return path


def measure(args: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one prepare run."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "scaling_laws.data.prepare", *args, "--no-progress"], cwd=ROOT,
                             stdout=subprocess.DEVNULL)
    process, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        try:
            peak = max(peak, process.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    if child.returncode != 0:
        raise SystemExit(f"prepare {' '.join(args)} failed with exit code {child.returncode}")
    return time.perf_counter() - started, peak / 2 ** 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scratch", type=Path, default=None, help="where to write the corpora (default: a temp dir)")
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[16, 128])
    parser.add_argument("--bpe-sizes-mb", type=int, nargs="+", default=[4, 32])
    args = parser.parse_args()
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="prepare-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    documents = stdlib_documents()
    sample = write_jsonl(scratch / "sample.jsonl", documents, 2 << 20)
    subprocess.run([sys.executable, "-m", "scaling_laws.data.prepare", sample, scratch / "bpe", "--tokenizer", "bpe",
                    "--vocab-size", "8192", "--no-progress", "--overwrite"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    runs = [(f"{mb} MB JSONL", write_jsonl(scratch / f"{mb}.jsonl", documents, mb << 20), ["--tokenizer", "bytes"])
            for mb in args.sizes_mb]
    runs += [(f"{mb} MB one-line .txt", write_one_line(scratch / f"{mb}.txt", documents, mb << 20), [])
             for mb in args.sizes_mb]
    runs += [(f"{mb} MB JSONL, BPE 8k", write_jsonl(scratch / f"bpe{mb}.jsonl", documents, mb << 20),
              ["--tokenizer", str(scratch / "bpe" / "tokenizer.json")]) for mb in args.bpe_sizes_mb]
    print(f"{'input':<26} {'seconds':>8} {'MB/s':>7} {'peak RSS MB':>12}")
    for name, path, extra in runs:
        seconds, peak_mb = measure([str(path), str(scratch / f"out-{path.stem}"), *extra, "--overwrite"])
        print(f"{name:<26} {seconds:>8.1f} {path.stat().st_size / 2 ** 20 / seconds:>7.1f} {peak_mb:>12.0f}")


if __name__ == "__main__":
    main()
