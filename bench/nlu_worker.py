"""Load one model in a fresh process, score the dev set and time parses; print one JSON line."""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.evaluate import (
    BLIND_SETS,
    CRISIS_SETS,
    Example,
    acted_on,
    load_examples,
    score_acted,
)
from bot.nlu import InProcessParser, quiet_rasa
from bot.understand import crisis_source, decide


def rss_mb() -> float:
    """Resident memory of this process in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _decider(parser: InProcessParser) -> Callable[[str], tuple[str, str | None]]:
    """What the bot acts on, for this parser."""
    return acted_on(parser.parse_sync, parser.threshold)


def _blind_figures(blind: list[Example], parser: InProcessParser) -> dict:
    """Score one blind set the way the bot acts on it, with the crisis and off-topic breakdowns."""
    report = score_acted(blind, _decider(parser))
    missed = {(t, g) for t, g, _, _ in report.errors}
    in_domain = [e for e in blind if e.intent != "out_of_scope"]
    off_topic = clarified = lexicon_crisis = model_crisis = shown = 0
    for e in blind:
        parse = parser.parse_sync(e.text)
        d = decide(parse, e.text, parser.threshold)
        off_topic += e.intent != "out_of_scope" and d.action in ("out_of_scope", "lending")
        shown += e.intent == "crisis" and d.action in ("crisis", "crisis_soft")
        clarified += d.action == "clarify"
        if e.intent == "crisis":
            src = crisis_source(parse)
            lexicon_crisis += src == "lexicon"
            model_crisis += src in ("model", "model_close")
    crisis_n = max(1, sum(e.intent == "crisis" for e in blind))
    recall = {
        i: sum(1 for e in blind if e.intent == i and (e.text, i) not in missed) / sum(e.intent == i for e in blind)
        for i in sorted({e.intent for e in blind})
    }
    return {
        "n": report.n,
        "macro_f1": report.macro_f1,
        "crisis_recall": report.crisis_recall,
        "by_script": report.accuracy_by_script,
        "recall": recall,
        "off_topic_in_domain": off_topic / len(in_domain),
        "clarified": clarified / len(blind),
        "crisis_shown": shown / crisis_n,
        "crisis_by_lexicon": lexicon_crisis / crisis_n,
        "crisis_by_model": model_crisis / crisis_n,
        "errors": report.errors,
    }


def _crisis_figures(crisis_set: list[Example], parser: InProcessParser) -> dict:
    """The crisis reply on a blind crisis set: shown for crisis messages, false alarms on the others."""
    acted = [decide(parser.parse_sync(e.text), e.text, parser.threshold).action for e in crisis_set]
    on_crisis = [a for e, a in zip(crisis_set, acted, strict=True) if e.intent == "crisis"]
    on_other = [a for e, a in zip(crisis_set, acted, strict=True) if e.intent != "crisis"]
    return {
        "n": len(on_crisis),
        "shown": sum(a in ("crisis", "crisis_soft") for a in on_crisis),
        "others": len(on_other),
        "alarms": sum(a in ("crisis", "crisis_soft") for a in on_other),
        "alarms_full": sum(a == "crisis" for a in on_other),
    }


def main() -> None:
    """Measure one model."""
    started = time.monotonic()
    quiet_rasa()
    parser = InProcessParser(Path(sys.argv[1])).load()
    load_s = time.monotonic() - started
    examples = load_examples()

    report = score_acted(examples, _decider(parser))
    blinds = {
        f"blind{n}": _blind_figures(load_examples(path), parser)
        for n, path in enumerate(BLIND_SETS, 1)
        if path.exists()
    }
    crisis_blind = {
        f"crisis{n}": _crisis_figures(load_examples(path), parser)
        for n, path in enumerate(CRISIS_SETS, 1)
        if path.exists()
    }
    texts = [e.text for e in examples]
    lat = []
    for _ in range(3):
        for t in texts:
            t0 = time.perf_counter()
            parser.parse_sync(t)
            lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    print(
        json.dumps(
            {
                "load_s": load_s,
                "rss_mb": rss_mb(),
                "macro_f1": report.macro_f1,
                "accuracy": report.accuracy,
                "crisis_recall": report.crisis_recall,
                "by_script": report.accuracy_by_script,
                "p50_ms": statistics.median(lat),
                "p99_ms": lat[int(len(lat) * 0.99) - 1],
                "n": report.n,
                "errors": report.errors,
                **blinds,
                "crisis_blind": crisis_blind,
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
