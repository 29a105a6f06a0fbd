"""Evidence log figures: a 200-entry PDF export, one save with encryption and chaining (p99), verifying 10,000 entries.

Targets (issue: evidence that holds up): PDF <= 3 s, save p99 <= 20 ms, verify 10,000 <= 1 s.

    .venv/bin/python bench/bench_evidence.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.fernet import Fernet

from bot.evidence.pdf import build_pdf
from bot.store import Store

CST = timezone(timedelta(hours=8))
TEXT = "【某某金融】你已逾期，再不还款就通知你单位领导和通讯录所有人，让你身败名裂。"
META = {"numbers": ["+8613800138000"], "precision": "minute", "categories": ["third_party_contact"]}


def fill(store: Store, user: str, n: int) -> None:
    start = datetime(2026, 9, 1, 8, 0, tzinfo=CST)
    for i in range(n):
        store.add_evidence(user, ("sms", "call", "contact")[i % 3], f"{i} {TEXT}", META, at=start + timedelta(hours=i))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.sqlite3", Fernet.generate_key())
        # one save with encryption and chaining, on a file database (WAL, synchronous=NORMAL as in production)
        fill(store, "warm", 50)
        saves = []
        for i in range(1000):
            t = time.perf_counter()
            store.add_evidence("saver", "sms", f"{i} {TEXT}", META)
            saves.append((time.perf_counter() - t) * 1000)
        saves.sort()
        p50, p99 = statistics.median(saves), saves[int(len(saves) * 0.99) - 1]

        fill(store, "pdf", 200)
        items, report = store.list_evidence("pdf"), store.verify_evidence("pdf")
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            pdf = build_pdf(items, report, "zh-Hans")
            runs.append(time.perf_counter() - t)

        fill(store, "big", 10_000)
        t = time.perf_counter()
        big = store.verify_evidence("big")
        verify_s = time.perf_counter() - t
        assert big.ok and big.count == 10_000
        store.close()
    print("| figure | measured | target |")
    print("|---|---|---|")
    print(f"| save one entry (encrypt + chain), 1,000 saves | p50 {p50:.2f} ms, p99 {p99:.2f} ms | p99 ≤ 20 ms |")
    print(
        f"| PDF of 200 entries ({len(pdf.data) // 1024} KB), best of 3 | {min(runs):.2f} s (worst {max(runs):.2f} s) "
        "| ≤ 3 s |"
    )
    print(f"| verify 10,000 entries (decrypt + rehash) | {verify_s:.2f} s | ≤ 1 s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
