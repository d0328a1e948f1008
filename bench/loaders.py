"""Loader benchmark: wall-clock load time and peak memory per input, each in a fresh process.

Loads every file of the shared corpora (when `../shared/corpora` is there) and, with
`--big MB`, a generated WildChat-shaped JSONL file of about that size, plain, gzipped and as
one Parquet file with a nested `conversation` column (written to a temporary folder, deleted
after). Uses only the public API (`simgap_core.io.inputs`).

    python bench/loaders.py [--big 100] [--corpora DIR]

Prints one table: input, size on disk, conversations, seconds, MB/s, peak RSS (MB).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT.parent / "shared" / "corpora"

CHILD = """
import json, sys, time
from pathlib import Path
from simgap_core.io.inputs import InputSpec, load_inputs
started = time.perf_counter()
corpus = load_inputs([InputSpec(Path(sys.argv[1]), None)])
seconds = time.perf_counter() - started
# VmHWM, not ru_maxrss: the latter keeps the parent's high-water mark across fork + exec.
status = Path("/proc/self/status").read_text().splitlines()
peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
print(json.dumps({"conversations": len(corpus), "skipped": len(corpus.skipped),
                  "seconds": seconds, "peak_mb": peak}))
"""


def measure(path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, env=env
    )
    if out.returncode:
        raise SystemExit(f"{path}: {out.stderr.strip().splitlines()[-1]}")
    return json.loads(out.stdout)


def wildchat_jsonl(folder: Path, megabytes: int) -> Path:
    """A WildChat-shaped JSONL file of about `megabytes` MB (3-turn conversations)."""
    path = folder / f"wildchat_{megabytes}mb.jsonl"
    words = [
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "a",
        "lazy",
        "dog",
        "while",
        "simulated",
        "users",
        "ask",
    ]
    with path.open("w", encoding="utf-8") as handle:
        number = 0
        while handle.tell() < megabytes * 1_000_000:
            text = " ".join(words[(number + i) % len(words)] for i in range(60))
            record = {
                "conversation_hash": f"h{number}",
                "model": "gpt-4",
                "timestamp": "2023-04-09T10:00:00",
                "turn": 2,
                "language": "English",
                "conversation": [
                    {"role": "user", "content": f"{number}: {text}"},
                    {"role": "assistant", "content": text * 4},
                    {"role": "user", "content": text},
                ],
            }
            handle.write(json.dumps(record) + "\n")
            number += 1
    return path


def to_parquet(path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with path.open(encoding="utf-8") as handle:
        table = pa.Table.from_pylist([json.loads(line) for line in handle])
    target = path.with_suffix(".parquet")
    pq.write_table(table, target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", type=int, default=0, help="also a generated file of ~MB")
    parser.add_argument("--corpora", type=Path, default=CORPORA, help="the shared corpora")
    args = parser.parse_args()
    corpora = args.corpora
    inputs: list[Path] = []
    if corpora.is_dir():
        inputs += sorted(p for p in corpora.rglob("*") if p.suffix in {".json", ".jsonl", ".gz"})
        inputs.append(corpora / "simulated" / "tau_trait")
    with tempfile.TemporaryDirectory() as folder:
        if args.big:
            plain = wildchat_jsonl(Path(folder), args.big)
            zipped = plain.with_suffix(".jsonl.gz")
            zipped.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=6))
            inputs += [plain, zipped, to_parquet(plain)]
        print(f"machine: {os.cpu_count()} cores; one fresh process per input")
        print(f"{'input':58} {'MB':>8} {'convs':>8} {'s':>7} {'MB/s':>7} {'peak MB':>8}")
        for path in inputs:
            size = sum(p.stat().st_size for p in ([path] if path.is_file() else path.rglob("*")))
            row = measure(path)
            name = str(path.relative_to(corpora) if path.is_relative_to(corpora) else path.name)
            print(
                f"{name[-58:]:58} {size / 1e6:8.1f} {row['conversations']:8,} "
                f"{row['seconds']:7.2f} {size / 1e6 / row['seconds']:7.1f} {row['peak_mb']:8.0f}"
            )


if __name__ == "__main__":
    main()
