"""SMS assessment quality and speed: own corpus and blind set side by side, throughput, latency, load time.

Run: .venv/bin/python bench/bench_assess.py        (one thread, about 20 seconds; prints markdown tables)
     .venv/bin/python bench/bench_assess.py --speed-only   (the speed table alone: no accuracy on any set, so it
                                                           can be run while tuning without scoring a blind set)
Quality is reported on the held-out split of tests/data/sms_corpus.jsonl ("own"), on the earlier blind sets
(written by people who never saw the patterns, since reported and tuned on, so shown as tuned-on sets) and on the
last blind set, the one the targets are judged on (SMS_BLIND_SETS in bot/assess/evaluate.py).
Targets: >= 2,000 SMS/s on one core; p99 <= 5 ms per 500-char SMS; blind accuracy >= 0.97, micro-F1 >= 0.92,
each category's recall >= 0.85, no lawful SMS rated high, no high-risk SMS rated low, no genuine court notice
called a false threat.

The work is single-threaded, so it uses one core. Two clocks are shown: CPU time (what one core spends per
SMS) and wall time (includes time the process waited for other jobs). Targets are judged on CPU time; a wall
figure far above it means the machine was busy, not that the code got slower.

On a virtual machine CPU time is not steady either: while the host runs other guests, the same work takes longer.
The table shows how much by timing a fixed pure-Python loop 2,000 times (its p99 / p50). Each 500-character SMS is
assessed five times, in five passes over the 200 messages; the p99 target is judged on each message's median of
its five runs (the slowest 1 % of messages), and the p99 of all 1,000 runs, which adds the machine's own tail, is
shown beside it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

# One core: numpy must not start BLAS helper threads (thread_time would not see their work).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.assess import CATEGORIES, assess  # noqa: E402
from bot.assess.engine import prepare  # noqa: E402
from bot.assess.evaluate import JUDGED_SMS_SET, SPENT_SMS_SETS, Scores, blind_number, evaluate, load_jsonl  # noqa: E402
from bot.assess.learned import get_classifier  # noqa: E402
from bot.assess.rules import get_rules, load_rules  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "sms_corpus.jsonl"
TARGET_RATE = 2000.0
TARGET_P99_MS = 5.0
CPU: Callable[[], float] = time.thread_time
WALL: Callable[[], float] = time.perf_counter


def corpus_texts() -> list[str]:
    """Return every SMS text of the labelled corpus."""
    with CORPUS.open(encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh if line.strip()]


def long_messages(texts: list[str], size: int = 500, count: int = 200) -> list[str]:
    """Build `count` distinct ~`size`-char messages by joining corpus messages (like a forwarded thread)."""
    out: list[str] = []
    n = len(texts)
    for i in range(count):
        parts: list[str] = []
        j = i
        while sum(len(p) for p in parts) < size:
            parts.append(texts[(j * 7) % n])
            j += 1
        out.append("\n".join(parts)[:size])
    return out


def compile_ms(repeat: int = 5) -> tuple[float, float]:
    """Median (CPU, wall) milliseconds to load and compile all pattern files from YAML (uncached)."""
    cpu, wall = [], []
    for _ in range(repeat):
        c0, w0 = CPU(), WALL()
        load_rules()
        cpu.append(CPU() - c0)
        wall.append(WALL() - w0)
    return statistics.median(cpu) * 1000, statistics.median(wall) * 1000


def throughput(texts: list[str], seconds: float = 4.0) -> tuple[float, float, int]:
    """SMS per second of CPU time and of wall time over the corpus, looping for about `seconds`."""
    done = 0
    c0, w0 = CPU(), WALL()
    while WALL() - w0 < seconds:
        for t in texts:
            assess(t)
        done += len(texts)
    return done / (CPU() - c0), done / (WALL() - w0), done


def latencies_ms(messages: list[str], rounds: int = 5) -> tuple[list[float], list[float]]:
    """CPU and wall latency of each assess() call on the given messages, in milliseconds."""
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(rounds):
        for m in messages:
            c0, w0 = CPU(), WALL()
            assess(m)
            cpu.append((CPU() - c0) * 1000)
            wall.append((WALL() - w0) * 1000)
    return cpu, wall


def per_message_median(samples: list[float], count: int) -> list[float]:
    """Each message's median over the passes of latencies_ms (samples are pass by pass, `count` messages each)."""
    return [statistics.median(samples[i::count]) for i in range(count)]


def machine_jitter(runs: int = 2000) -> tuple[float, float]:
    """CPU-time p50 and p99 (ms) of a fixed pure-Python loop: the same work, so any spread is the machine's."""
    times: list[float] = []
    for _ in range(runs):
        c0 = CPU()
        total = 0
        for i in range(20_000):
            total += i
        times.append((CPU() - c0) * 1000)
    return pct(times, 50), pct(times, 99)


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]


def _fmt(value: float | None) -> str:
    """A ratio with three decimals, or a dash."""
    return "—" if value is None else f"{value:.3f}"


def quality_table() -> None:
    """Print own-corpus (held-out) and blind figures, one row per set."""
    sets: list[tuple[str, Scores]] = [
        ("own (held-out)", evaluate(r for r in load_jsonl(CORPUS) if r["split"] == "heldout")),
    ]
    for path in SPENT_SMS_SETS:
        sets.append((f"blind {blind_number(path)} (tuned on)", evaluate(load_jsonl(path))))
    sets.append((f"**blind {blind_number(JUDGED_SMS_SET)} (judged)**", evaluate(load_jsonl(JUDGED_SMS_SET))))
    print(
        "| set | SMS | malicious vs lawful accuracy | category micro-P / R | micro-F1 | lowest category recall "
        "| lawful rated high | high rated low | genuine court notices called false / not verified |"
    )
    print("|---|---:|---:|---:|---:|---|---:|---:|---|")
    for name, sc in sets:
        recalls = [(r, cat) for cat in CATEGORIES if (r := sc.recall(cat)) is not None]
        low, low_cat = min(recalls) if recalls else (None, "")
        print(
            f"| {name} | {sc.n} | {_fmt(sc.binary_accuracy)} | {sc.micro_p:.3f} / {sc.micro_r:.3f} "
            f"| {_fmt(sc.micro_f1)} | {low_cat} {_fmt(low)} | {len(sc.lawful_rated_high)} | {len(sc.high_rated_low)} "
            f"| {len(sc.court_called_false)} / {len(sc.court_not_verified)} of {sc.court_genuine} |"
        )
    print("| target (blind) | | ≥ 0.97 | | ≥ 0.92 | every category ≥ 0.85 | 0 | 0 | 0 / 0 |")
    print()


def main(argv: list[str] | None = None) -> None:
    """Measure and print the tables (only the speed table with --speed-only)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speed-only", action="store_true", help="print the speed table only (no accuracy on any set)")
    args = ap.parse_args(argv)
    texts = corpus_texts()
    if not args.speed_only:
        quality_table()
    cold_cpu, cold_wall = compile_ms()
    get_rules()  # warm the cache (and OpenCC) before timing
    get_classifier()
    w0 = WALL()
    prefilter_on = prepare(wait=True)
    prefilter_s = WALL() - w0
    for t in texts[:20]:
        assess(t)
    gc.collect()
    rate_cpu, rate_wall, n = throughput(texts)
    messages = long_messages(texts)
    cpu, wall = latencies_ms(messages)
    cpu_med = per_message_median(cpu, len(messages))
    wall_med = per_message_median(wall, len(messages))
    jitter_p50, jitter_p99 = machine_jitter()
    avg_len = statistics.mean(len(t) for t in texts)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    ok_rate = "ok" if rate_cpu >= TARGET_RATE else "MISSED"
    ok_p99 = "ok" if pct(cpu_med, 99) <= TARGET_P99_MS else "MISSED"
    print(
        f"SMS assessment benchmark — Python {sys.version.split()[0]}, one thread, load average {load:.2f}, "
        f"{len(texts)} corpus SMS (mean {avg_len:.0f} chars), {n:,} assessed for throughput\n"
    )
    print("| measure | CPU time | wall time | target (on CPU time) |")
    print("|---|---:|---:|---|")
    print(
        f"| throughput over the corpus | {rate_cpu:,.0f} SMS/s | {rate_wall:,.0f} SMS/s "
        f"| ≥ 2,000 SMS/s: {ok_rate} |"
    )
    print(
        f"| latency p50, 500-char SMS (median of its runs) | {pct(cpu_med, 50):.2f} ms | {pct(wall_med, 50):.2f} ms | |"
    )
    print(
        f"| latency p99, 500-char SMS (median of its runs) | {pct(cpu_med, 99):.2f} ms | {pct(wall_med, 99):.2f} ms "
        f"| ≤ 5 ms: {ok_p99} |"
    )
    print(
        f"| latency p99 of all {len(cpu):,} runs (machine's tail included) | {pct(cpu, 99):.2f} ms "
        f"| {pct(wall, 99):.2f} ms | |"
    )
    print(f"| latency max of all runs | {max(cpu):.2f} ms | {max(wall):.2f} ms | |")
    print(
        f"| machine: fixed loop p50 / p99, CPU time | {jitter_p50:.2f} / {jitter_p99:.2f} ms "
        f"(p99 {jitter_p99 / jitter_p50:.2f} × p50) | | |"
    )
    print(
        f"| pattern load + compile, cold (median of 5) | {cold_cpu:.0f} ms | {cold_wall:.0f} ms " "| once per process |"
    )
    state = "on" if prefilter_on else "OFF (ASSESS_PREFILTER=off or no hyperscan: the key index alone)"
    print(
        f"| Hyperscan pre-filter {state}: load from disk or build | | {prefilter_s * 1000:,.0f} ms "
        "| once per process |"
    )


if __name__ == "__main__":
    main()
