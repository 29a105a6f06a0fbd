"""Compare NLU pipelines on the held-back dev set: accuracy, training, loading, latency, memory.

Run: .venv/bin/python bench/bench_pipelines.py [name ...]   (names of rasa_project/pipelines/*.yml; default all)
Each pipeline is trained into .bench/models/ and measured in a fresh process. Takes several minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.train import PROJECT, rasa_env, train  # noqa: E402

OUT = ROOT / ".bench" / "models"


def configs(names: list[str]) -> list[tuple[str, Path]]:
    """The production config plus the alternatives in rasa_project/pipelines/."""
    found = [("config.yml (in use)", PROJECT / "config.yml")]
    found += [(p.stem, p) for p in sorted((PROJECT / "pipelines").glob("*.yml"))]
    return [c for c in found if not names or c[0].split()[0].removesuffix(".yml") in names or c[0] in names]


def main() -> None:
    """Train and measure each pipeline, then print a markdown table."""
    rows = []
    for name, config in configs(sys.argv[1:]):
        stem = config.stem if config.parent.name == "pipelines" else "in_use"
        # An empty Rasa cache for each pipeline, so training times are cold (no components reused).
        os.environ["RASA_CACHE_DIRECTORY"] = tempfile.mkdtemp(prefix="rasa-cache-")
        t0 = time.monotonic()
        model = train(config=config, out=OUT, force=True, model_name=stem)
        train_s = time.monotonic() - t0
        proc = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "nlu_worker.py"), str(model)],
            capture_output=True,
            text=True,
            env=rasa_env(),
            check=True,
        )
        m = json.loads(proc.stdout.strip().splitlines()[-1])
        m.update(name=name, train_s=train_s)
        rows.append(m)
        print(f"{name}: done", file=sys.stderr, flush=True)
    print(f"\nDev set: {rows[0]['n']} sentences, never trained on. Machine: {ROOT}, 2 cores.\n")
    print(
        "| pipeline | macro-F1 | accuracy | crisis recall | zh-Hans | zh-Hant | en | train s | load s "
        "| p50 ms | p99 ms | RSS MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for m in rows:
        s = m["by_script"]
        print(
            f"| {m['name']} | {m['macro_f1']:.3f} | {m['accuracy']:.3f} | {m['crisis_recall']:.2f} | "
            f"{s.get('zh-Hans', 0):.3f} | {s.get('zh-Hant', 0):.3f} | {s.get('en', 0):.3f} | {m['train_s']:.0f} | "
            f"{m['load_s']:.1f} | {m['p50_ms']:.1f} | {m['p99_ms']:.1f} | {m['rss_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
