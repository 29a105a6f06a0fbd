"""The Telegram channel end to end, the stock Rasa server beside it, and screenshot OCR.

1. Latency from an update offered by the fake Bot API (127.0.0.1, real HTTP, in its own process as Telegram
   is) to the bot's sendMessage, through the unmodified PTB Application, the real dialogue core and the real
   model: p50/p99 at 30 msg/s offered over 100 chats, with Telegram's flood limit on (AIORateLimiter,
   production) and off.
2. The maximum sustained rate: a backlog of messages over 100 chats, answered as fast as the bot can.
3. The stock `rasa run --enable-api` server's /model/parse rate on the same model, beside in-process parsing.
4. OCR: seconds per SMS screenshot on one core, character accuracy on rendered held-out SMS, and how often
   the assessment of the OCR text gives the same risk as the typed text.

Run: .venv/bin/python bench/bench_telegram.py [--quick]   (prints a markdown table; about 8 minutes)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from cryptography.fernet import Fernet  # noqa: E402

from bot.channels.telegram import (  # noqa: E402
    EMPTY_TEXT,
    build_application,
    keyboard,
    run_telegram,
    split_text,
)
from bot.config import Secrets, load_config  # noqa: E402
from bot.dialogue.types import Incoming, Reply  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.fake_bot_api import (  # noqa: E402
    TOKEN,
    FakeBotApi,
    FakeBotApiProcess,
    find_cjk_font,
    render_screenshot,
)

CORPUS = ROOT / "tests" / "data" / "sms_corpus.jsonl"
QUESTIONS = [
    "/start",
    "/help",
    "催收说要起诉我，是真的吗？",
    "他们天天打电话给我家人怎么办",
    "怎么投诉催收",
    "我想跟平台协商分期还款",
    "我需要保留哪些证据",
    "催收打到我单位了",
    "我有什么权利",
    "谢谢你",
    "他們說要上門找我",
    "how do I complain about a collector",
    "我现在很害怕，不知道怎么办",
    "你好",
]
CHATS = 100


def note(message: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(f"[bench_telegram] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def messages_for(replies: list[Reply]) -> int:
    """How many sendMessage calls the channel makes for these replies (as TelegramChannel.send_replies)."""
    return sum(len(split_text(r.text) or ([EMPTY_TEXT] if keyboard(r.options) else [])) for r in replies)


class CountingDialogue:
    """The real core, recording how many messages each handled update will become, per user, in order."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.counts: dict[str, list[int]] = defaultdict(list)

    async def handle(self, incoming: Incoming, send: Any = None, **kw: Any) -> list[Reply]:
        replies = await self.real.handle(incoming, send, **kw)
        self.counts[incoming.user_id].append(messages_for(replies))
        return replies

    async def flush_sent(self) -> None:
        await self.real.flush_sent()


class Bot:
    """run_telegram in a thread against the fake Bot API (as tests/test_telegram.py does)."""

    def __init__(self, cfg: Any, dialogue: Any, fake: FakeBotApi | FakeBotApiProcess, rate_limit: bool) -> None:
        self.app = build_application(
            cfg, dialogue, base_url=fake.base_url, base_file_url=fake.base_file_url, rate_limit=rate_limit
        )
        self.loop = asyncio.new_event_loop()

        def main() -> None:
            asyncio.set_event_loop(self.loop)
            run_telegram(cfg, dialogue, application=self.app, stop_signals=None)

        self.thread = threading.Thread(target=main, daemon=True)
        self.thread.start()
        fake.wait_for("getUpdates", timeout=60)
        while not self.app.running:
            time.sleep(0.05)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.app.stop_running)
        self.thread.join(60)


def texts_to_send(n: int, rng: random.Random) -> list[tuple[str, bool]]:
    """A mix like real traffic: half pasted or forwarded collection SMS, half questions and commands."""
    sms = [json.loads(line)["text"] for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            out.append((rng.choice(sms), rng.random() < 0.5))
        else:
            out.append((rng.choice(QUESTIONS), False))
    return out


def warm_up(core: Any) -> None:
    """Answer each kind of message once, as a running bot already has (pattern compiling, first queries)."""

    async def go() -> None:
        for i, (text, forwarded) in enumerate(texts_to_send(40, random.Random(0))):
            await core.handle(Incoming(user_id=f"warm:{i % 5}", text=text, forwarded=forwarded))

    asyncio.run(go())


_RUNS = itertools.count(1)


def run_load(cfg: Any, core: Any, rate: float | None, n: int, rate_limit: bool, seed: int) -> dict[str, float]:
    """Offer n messages over 100 chats at `rate` per second (None: all at once); measure latency, rate."""
    rng = random.Random(seed)
    dialogue = CountingDialogue(core)
    with FakeBotApiProcess(poll_timeout_cap=10.0) as fake:
        bot = Bot(cfg, dialogue, fake, rate_limit)
        base = 10_000_000 * next(_RUNS)  # chat and update ids of this run alone (the store remembers handled ids)
        chats = [base + i for i in range(CHATS)]
        plan: list[tuple[int, dict[str, Any]]] = []
        for i, (text, forwarded) in enumerate(texts_to_send(n, rng)):
            chat = chats[i % CHATS] if rate is None else rng.choice(chats)
            update = fake.forwarded_update(chat, text) if forwarded else fake.text_update(chat, text)
            plan.append((chat, {**update, "update_id": base + i}))
        # The fake Telegram offers the updates from its own process, on schedule.
        cpu_before = time.process_time()  # from here on, this process is the bot (and idle waits)
        ids = fake.offer_paced([update for _, update in plan], rate)
        offers: dict[int, list[int]] = defaultdict(list)  # chat → update ids, in order
        for (chat, _), update_id in zip(plan, ids, strict=True):
            offers[chat].append(update_id)
        offered = fake.offered
        deadline = time.monotonic() + 600
        while sum(len(v) for v in dialogue.counts.values()) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        expected = sum(sum(v) for v in dialogue.counts.values())
        fake.wait_for_count("sendMessage", expected, timeout=600)
        fake.wait_quiet(0.5, timeout=120)
        cpu_s = time.process_time() - cpu_before
        bot.stop()
        latencies: list[float] = []
        last_first_reply = 0.0
        for chat, update_ids in offers.items():
            sent = fake.calls_of("sendMessage", chat)
            counts = dialogue.counts[f"tg:{chat}"]
            index = 0
            for update_id, count in zip(update_ids, counts, strict=False):
                if count:
                    latencies.append(sent[index].at - offered[update_id])
                    last_first_reply = max(last_first_reply, sent[index].at)
                index += count
        first_offer = min(offered.values())
        messages = len(fake.calls_of("sendMessage"))
    return {
        "n": len(latencies),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
        "answered_per_s": len(latencies) / (last_first_reply - first_offer),
        "messages_per_update": messages / max(1, len(latencies)),
        "cpu_ms_per_update": cpu_s / n * 1000,
    }


def rasa_server_rate(model: Path, texts: list[str], seconds: float, clients: int) -> dict[str, float]:
    """Start `rasa run --enable-api` on the model, wait until it answers, then measure /model/parse."""
    import httpx

    from bot.nlu import prepare
    from bot.train import rasa_env, rasa_server_command

    port, token = 5905, "bench-token"
    cmd = rasa_server_command(model, port, token)
    started = time.monotonic()
    log_path = Path(tempfile.gettempdir()) / "bench_rasa_run.log"
    log = log_path.open("wb")
    server = subprocess.Popen(cmd, cwd=ROOT / "rasa_project", env=rasa_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"rasa run exited with {server.returncode}; see {log_path}")
            try:
                if httpx.get(f"{url}/status", params={"token": token}, timeout=2).status_code == 200:
                    probe = httpx.post(f"{url}/model/parse", params={"token": token}, json={"text": "你好"}, timeout=30)
                    if probe.status_code == 200:
                        break
            except httpx.HTTPError:
                pass
            if time.monotonic() - started > 600:
                raise RuntimeError(f"rasa run did not answer within 10 minutes; see {log_path}")
            time.sleep(1)
        ready_s = time.monotonic() - started
        bodies = [{"text": prepare(t, 2000).text} for t in texts]
        latencies: list[float] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + seconds

        def client(k: int) -> None:
            with httpx.Client(timeout=30) as http:
                i = k
                while time.monotonic() < stop_at:
                    t0 = time.monotonic()
                    resp = http.post(f"{url}/model/parse", params={"token": token}, json=bodies[i % len(bodies)])
                    resp.raise_for_status()
                    with lock:
                        latencies.append(time.monotonic() - t0)
                    i += clients

        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        t0 = time.monotonic()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        took = time.monotonic() - t0
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    return {"ready_s": ready_s, "rate": len(latencies) / took, "p50_ms": percentile(latencies, 50) * 1000}


def inprocess_rate(parser: Any, texts: list[str], seconds: float) -> dict[str, float]:
    """Parses per second of the in-process model (one worker thread, as the bot uses it)."""
    latencies = []
    stop_at = time.monotonic() + seconds
    i = 0
    t0 = time.monotonic()
    while time.monotonic() < stop_at:
        s = time.monotonic()
        parser.parse_sync(texts[i % len(texts)])
        latencies.append(time.monotonic() - s)
        i += 1
    return {"rate": i / (time.monotonic() - t0), "p50_ms": percentile(latencies, 50) * 1000}


def _canon(text: str) -> str:
    """Compare texts as a reader would: NFKC, no whitespace."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def ocr_bench(limit: int | None) -> dict[str, Any]:
    """OCR the held-out SMS corpus rendered as phone screenshots, on one core."""
    from bot.assess import assess
    from bot.ocr import OCR_THREADS, read_text, warm_up
    from bot.textnorm import to_simplified

    font = find_cjk_font()
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if r["split"] == "heldout" and (font or r["lang"] == "en")][:limit]
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        warm_up()
        times, errors, chars, same_risk, hant_errors, hant_chars = [], 0, 0, 0, 0, 0
        by_lang: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        sender, when = "10690000", "今天 23:41"
        for row in rows:
            image = render_screenshot(row["text"], sender=sender, when=when, font_path=font)
            t0 = time.monotonic()
            text = read_text(image)
            times.append(time.monotonic() - t0)
            lines = text.split("\n")
            while lines and _canon(lines[0]) in (_canon(sender), _canon(when)):
                lines.pop(0)
            body = "\n".join(lines)
            truth = _canon(row["text"])
            err = edit_distance(_canon(body), truth)
            errors += err
            chars += len(truth)
            by_lang[row["lang"]][0] += err
            by_lang[row["lang"]][1] += len(truth)
            same_risk += assess(body).risk == assess(row["text"]).risk
            if row["lang"] == "zh-Hant":  # the model often reads a Traditional character as its Simplified twin
                hant_errors += edit_distance(_canon(to_simplified(body)), _canon(to_simplified(row["text"])))
                hant_chars += len(truth)
    finally:
        os.sched_setaffinity(0, cpus)
    return {
        "n": len(rows),
        "font": Path(font).name if font else "Pillow default (English only)",
        "threads": OCR_THREADS,
        "p50_s": statistics.median(times),
        "p90_s": percentile(times, 90),
        "accuracy": 1 - errors / chars,
        "same_risk": same_risk / len(rows),
        "by_lang": {k: 1 - e / c for k, (e, c) in sorted(by_lang.items())},
        "hant_as_simplified": 1 - hant_errors / hant_chars if hant_chars else None,
    }


def main() -> None:
    """Measure everything and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer messages and shorter runs")
    args = ap.parse_args()
    n_load, n_burst, seconds = (150, 300, 5.0) if args.quick else (600, 1000, 15.0)

    from bot.app import load_ocr
    from bot.dialogue import Dialogue
    from bot.nlu import InProcessParser, quiet_rasa
    from bot.train import train

    quiet_rasa()
    model = train()
    cfg = load_config(env={})
    cfg = replace(cfg, secrets=Secrets(telegram_token=TOKEN))
    t0 = time.monotonic()
    parser = InProcessParser.from_config(cfg).load()
    load_s = time.monotonic() - t0
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.sqlite3", Fernet.generate_key())
        core = Dialogue(cfg, parser, store, ocr=load_ocr())
        warm_up(core)
        for rate, label, rate_limit in (
            (30.0, "Telegram flood limit on (production)", True),
            (30.0, "flood limit off", False),
            (25.0, "Telegram flood limit on (production)", True),
        ):
            note(f"{rate:.0f} msg/s offered, {label}…")
            r = run_load(cfg, core, rate, n_load, rate_limit, seed=1 if rate_limit else 2)
            rows.append(
                (
                    f"update offered → sendMessage, {rate:.0f} msg/s over {CHATS} chats, {label}: p50 / p99 "
                    f"({r['n']} updates, {r['messages_per_update']:.2f} messages each)",
                    f"{r['p50_ms']:.0f} / {r['p99_ms']:.0f} ms (max {r['max_ms']:.0f}; "
                    f"bot CPU {r['cpu_ms_per_update']:.1f} ms/update)",
                )
            )
        for label, rate_limit in (("flood limit on", True), ("flood limit off", False)):
            note(f"backlog of {n_burst} updates, {label}…")
            r = run_load(cfg, core, None, n_burst, rate_limit, seed=3 if rate_limit else 4)
            rows.append(
                (
                    f"max sustained rate: {r['n']} updates queued over {CHATS} chats, {label}",
                    f"{r['answered_per_s']:.0f} updates/s "
                    f"({r['answered_per_s'] * r['messages_per_update']:.0f}"
                    " messages/s)",
                )
            )
        store.close()
    texts = [t for t, _ in texts_to_send(200, random.Random(9)) if not t.startswith("/")]
    inproc = inprocess_rate(parser, texts, seconds)
    rows.append(
        (
            f"in-process model ({model.name}, loaded in {load_s:.0f} s): parses/s, p50",
            f"{inproc['rate']:.0f} /s, {inproc['p50_ms']:.1f} ms",
        )
    )
    note("starting the stock `rasa run --enable-api` server and waiting for it…")
    server = rasa_server_rate(model, texts, seconds, clients=4)
    rows.append(
        (
            f"stock `rasa run --enable-api` /model/parse, 4 clients (ready after {server['ready_s']:.0f} s)",
            f"{server['rate']:.0f} /s, p50 {server['p50_ms']:.1f} ms",
        )
    )
    note("OCR on rendered screenshots…")
    ocr = ocr_bench(20 if args.quick else None)
    rows.append(
        (
            f"OCR per SMS screenshot (1080 px wide JPEG, one core, {ocr['threads']} ONNX thread): p50 / p90",
            f"{ocr['p50_s']:.2f} / {ocr['p90_s']:.2f} s",
        )
    )
    langs = ", ".join(f"{k} {v:.1%}" for k, v in ocr["by_lang"].items())
    rows.append(
        (
            f"OCR character accuracy on {ocr['n']} rendered held-out SMS ({ocr['font']})",
            f"{ocr['accuracy']:.1%} ({langs})",
        )
    )
    if ocr["hant_as_simplified"] is not None:
        rows.append(
            (
                "OCR accuracy on zh-Hant once both sides are converted to Simplified (as the core does)",
                f"{ocr['hant_as_simplified']:.1%}",
            )
        )
    rows.append(("assessment of the OCR text gives the typed text's risk", f"{ocr['same_risk']:.0%}"))
    print("\n| measure | measured |")
    print("|---|---|")
    for measure, value in rows:
        print(f"| {measure} | {value} |")


if __name__ == "__main__":
    main()
