"""Speed of the SMS assessment alone (no accuracy figures): throughput and latency on one core, rules+model.

Usage: .venv/bin/python bench/speed_assess.py [FILE.jsonl]

Reads the SMS of the given tune file (default tests/data/sms_corpus.jsonl), times assess() over all of them for
about four seconds (throughput), then on 200 ~500-character messages made by joining them like a forwarded
thread, five rounds (latency). CPU time of this thread is the figure (wall time beside it: on a busy machine it
also counts other processes). Targets: >= 2,000 SMS/s and p99 <= 5 ms per 500-character SMS.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.assess import assess  # noqa: E402


def joined(texts: list[str], size: int = 500, count: int = 200) -> list[str]:
    """Build `count` distinct ~`size`-char messages by joining SMS of the file."""
    out: list[str] = []
    for i in range(count):
        parts: list[str] = []
        j = i
        while sum(len(p) for p in parts) < size:
            parts.append(texts[(j * 7) % len(texts)])
            j += 1
        out.append("\n".join(parts)[:size])
    return out


def main(argv: list[str]) -> int:
    """Print throughput and latency percentiles (CPU and wall)."""
    path = Path(argv[0]) if argv else ROOT / "tests" / "data" / "sms_corpus.jsonl"
    if "blind" in str(path.resolve()).lower():
        sys.exit("blind sets are not read here")
    texts = [json.loads(x)["text"] for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    long = joined(texts)
    for t in texts + long:  # warm-up: compile rules, load the model, fill caches
        assess(t)
    gc.collect()
    done, c0, w0 = 0, time.thread_time(), time.perf_counter()
    while time.perf_counter() - w0 < 4.0:
        for t in texts:
            assess(t)
        done += len(texts)
    cpu_rate, wall_rate = done / (time.thread_time() - c0), done / (time.perf_counter() - w0)
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(5):
        for m in long:
            c, w = time.thread_time(), time.perf_counter()
            assess(m)
            cpu.append((time.thread_time() - c) * 1000)
            wall.append((time.perf_counter() - w) * 1000)
    cpu.sort()
    wall.sort()

    def p(v: list[float], q: int) -> float:
        return v[min(len(v) - 1, int(len(v) * q / 100))]

    print(
        f"{path.name}: throughput {cpu_rate:,.0f} SMS/s CPU ({wall_rate:,.0f} wall); 500-char p50 "
        f"{p(cpu, 50):.2f} ms, p99 {p(cpu, 99):.2f} ms CPU (wall p99 {p(wall, 99):.2f} ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
