"""Load one model in a fresh process, score the dev set and time parses; print one JSON line."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.evaluate import load_examples, score
from bot.nlu import InProcessParser, quiet_rasa


def rss_mb() -> float:
    """Resident memory of this process in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    """Measure one model."""
    started = time.monotonic()
    quiet_rasa()
    parser = InProcessParser(Path(sys.argv[1])).load()
    load_s = time.monotonic() - started
    examples = load_examples()
    report = score(examples, parser.parse_sync)
    texts = [e.text for e in examples]
    lat = []
    for _ in range(3):
        for t in texts:
            t0 = time.perf_counter()
            parser.parse_sync(t)
            lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    print(json.dumps({
        "load_s": load_s, "rss_mb": rss_mb(), "macro_f1": report.macro_f1, "accuracy": report.accuracy,
        "crisis_recall": report.crisis_recall, "by_script": report.accuracy_by_script,
        "p50_ms": statistics.median(lat), "p99_ms": lat[int(len(lat) * 0.99) - 1], "n": report.n,
        "errors": report.errors,
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
