"""Worst-case speed of the text checks: 100 KB pastes and pathological inputs, per-call cost, load times.

Run: .venv/bin/python bench/bench_limits.py        (one thread, a few seconds; prints a markdown table)
These limits used to be assertions in the unit tests, where a busy machine made them flaky. Here each is
measured on CPU time (steady on a shared machine) with wall time beside it, and the script exits 1 when a
limit is exceeded on CPU time. Limits: an assessment of any input < 2 s; a crisis check of a 100 KB paste
< 1 s; a typical message's crisis check < 1 ms on average; loading the crisis lexicon < 5 s; compiling the
SMS patterns < 5 s.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.assess import assess  # noqa: E402
from bot.assess.rules import load_rules  # noqa: E402
from bot.safety import detect_crisis, lexicon  # noqa: E402

PASTE = ("【青禾分期】您的借款已逾期，请通过官方APP还款。" * 5000)[:100_000]
PATHOLOGICAL = {
    "你×50000!": "你" * 50000 + "!",
    "上门×25000": "上门" * 25000,
    "不会上门×12500": "不会上门" * 12500,
    "你的×25000 + 身份证": "你的" * 25000 + "身份证",
    "【×30000": "【" * 30000,
    "a×50000": "a" * 50000,
    "你␠×30000": "你 " * 30000,
}
CRISIS_BLOBS = {
    "他们天天打电话威胁我 ×10000": "他们天天打电话威胁我" * 10_000,
    "a␠×50000": "a " * 50_000,
    "不想×50000": "不想" * 50_000,
    "are at my …(100 KB)": ("are at my " * 10_000)[:100_000],
    "死×100000": "死" * 100_000,
    "␠ZWSP×50000": " \u200b" * 50_000,
    "kill×20000 + myself": ("kill " * 20_000) + "myself",
}
TYPICAL = ["他们天天打电话骚扰我，说要起诉我，我该怎么办", "They keep calling my mom, what can I do?"]


def timed(fn: Callable[[], object], repeat: int = 1) -> tuple[float, float]:
    """CPU and wall seconds of `repeat` calls."""
    cpu, wall = time.thread_time(), time.perf_counter()
    for _ in range(repeat):
        fn()
    return time.thread_time() - cpu, time.perf_counter() - wall


def main() -> int:
    """Measure every limit, print the table, and return 1 when one is exceeded."""
    rows: list[tuple[str, float, float, float]] = []  # what, cpu s, wall s, limit s
    lexicon.cache_clear()
    rows.append(("crisis lexicon load", *timed(lexicon), 5.0))
    rows.append(("SMS patterns load + compile", *timed(load_rules), 5.0))
    rows.append(("assess: 100 KB paste", *timed(lambda: assess(PASTE)), 2.0))
    for name, text in PATHOLOGICAL.items():
        rows.append((f"assess: {name}", *timed(lambda text=text: assess(text)), 2.0))  # type: ignore[misc]
    for name, text in CRISIS_BLOBS.items():
        rows.append((f"crisis check: {name}", *timed(lambda text=text: detect_crisis(text)), 1.0))  # type: ignore[misc]
    cpu, wall = timed(lambda: [detect_crisis(t) for t in TYPICAL], repeat=200)
    rows.append(("crisis check: typical message, mean per call", cpu / 400, wall / 400, 0.001))
    print("| input | CPU time | wall time | limit (on CPU time) |")
    print("|---|---:|---:|---:|")
    over = 0
    for what, cpu, wall, limit in rows:
        flag = "" if cpu < limit else " **over**"
        over += cpu >= limit
        print(f"| {what} | {cpu * 1000:.2f} ms | {wall * 1000:.2f} ms | {limit * 1000:.0f} ms{flag} |")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
