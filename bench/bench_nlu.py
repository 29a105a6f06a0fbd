"""The production NLU model: start-up to first answer, parse latency, memory, training time.

Run: .venv/bin/python bench/bench_nlu.py        (prints a markdown table; about 2 minutes)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.train import PROJECT, rasa_env, train  # noqa: E402


def startup_seconds() -> float:
    """Wall time from launching `python -m bot nlu --jsonl` to its first answer."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "nlu", "--jsonl"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=rasa_env(),
    )
    assert proc.stdin and proc.stdout
    proc.stdin.write(json.dumps({"text": "我該怎麼投訴"}, ensure_ascii=False) + "\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    took = time.monotonic() - t0
    proc.stdin.close()
    proc.wait()
    assert json.loads(line)["intent"], line
    return took


def main() -> None:
    """Measure and print the table."""
    model = train()
    starts = [startup_seconds() for _ in range(3)]
    worker = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "nlu_worker.py"), str(model)],
        capture_output=True,
        text=True,
        env=rasa_env(),
        check=True,
    )
    m = json.loads(worker.stdout.strip().splitlines()[-1])
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RASA_CACHE_DIRECTORY"] = str(Path(tmp) / "cache")  # an empty cache: a cold, full training
        t0 = time.monotonic()
        train(config=PROJECT / "config.yml", out=Path(tmp), force=True, model_name="bench")
        train_s = time.monotonic() - t0
    print("\n| measure | target | measured |")
    print("|---|---|---|")
    print(
        f"| start-up: `python -m bot nlu` launched → first answer (median of 3) | ≤ 15 s | "
        f"{statistics.median(starts):.1f} s |"
    )
    print(
        f"| parse latency in-process p50 / p99 ({m['n']} dev sentences × 3) | ≤ 10 / 30 ms | "
        f"{m['p50_ms']:.1f} / {m['p99_ms']:.1f} ms |"
    )
    print(f"| resident memory with the model loaded | ≤ 800 MB | {m['rss_mb']:.0f} MB |")
    print(f"| training (`rasa train nlu`, forced, empty Rasa cache) | ≤ 180 s | {train_s:.0f} s |")
    s = m["by_script"]

    def role(n: int, last: int) -> str:
        return "chose the pipeline" if n == 1 else "reported" if n == last else "errors read"

    keys = sorted((k for k in m if k.startswith("blind")), key=lambda k: int(k[5:]))
    names = {k: f"blind {k[5:]} ({role(int(k[5:]), len(keys))})" for k in keys}
    blinds = [(names[k], m[k]) for k in names if k in m]

    def scripts(x: dict) -> str:
        return " / ".join(f"{x.get(k, 0):.3f}" for k in ("zh-Hans", "zh-Hant", "en"))

    def lowest(b: dict) -> str:
        return ", ".join(f"{i} {r:.2f}" for i, r in sorted(b["recall"].items(), key=lambda kv: kv[1])[:3])

    def row(label: str, target: str, dev: str, cell: Callable[[dict], str]) -> None:
        print(f"| {label} | {target} | {dev} | " + " | ".join(cell(b) for _, b in blinds) + " |")

    print("\n| what the bot acts on | target | dev | " + " | ".join(n for n, _ in blinds) + " |")
    print("|---|---|---|" + "---|" * len(blinds))
    row("examples", "", str(m["n"]), lambda b: str(b["n"]))
    row("macro-F1", "dev ≥ 0.97, blind ≥ 0.95", f"{m['macro_f1']:.3f}", lambda b: f"{b['macro_f1']:.3f}")
    row(
        "crisis reply shown (safeguard + model)",
        "1.00",
        f"{m['crisis_recall']:.3f}",
        lambda b: f"{b['crisis_shown']:.3f}",
    )
    row(
        "crisis caught by the safeguard / by the model only",
        "",
        "",
        lambda b: f"{b['crisis_by_lexicon']:.3f} / {b['crisis_by_model']:.3f}",
    )
    row("accuracy zh-Hans / zh-Hant / en", "within 3 pts", scripts(s), lambda b: scripts(b["by_script"]))
    row("in-domain messages answered off-topic", "≤ 1 %", "", lambda b: f"{100 * b['off_topic_in_domain']:.1f} %")
    row('answered with "did you mean …?"', "", "", lambda b: f"{100 * b['clarified']:.1f} %")
    row("lowest recall per intent", "each ≥ 0.90", "", lowest)
    crisis = m.get("crisis_blind") or {}
    crisis_names = {
        k: f"Blind crisis set {k[6:]} ({'reported' if i == len(crisis) else 'errors read'})"
        for i, k in enumerate(crisis, 1)
    }
    for key, c in (m.get("crisis_blind") or {}).items():
        print(
            f"\n{crisis_names[key]}: the crisis reply was shown for {c['shown']} of {c['n']} crisis messages "
            f"(target: all); {c['alarms']} of {c['others']} hard non-crisis messages also got it ({c['alarms_full']} "
            "with nothing else, the rest followed by their answer)."
        )
    if "--errors" in sys.argv:  # read once, for the final table only; tuning on them spends the blind set
        last = blinds[-1][1]
        for text, gold, got, conf in last["errors"]:
            print(f"error: {gold} -> {got} ({conf:.2f}): {text}")


if __name__ == "__main__":
    main()
