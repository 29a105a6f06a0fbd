"""Render a sample PDF complaint file and its first two pages as PNG into docs/img/ (for the README).

The log is made up here (fictional numbers in the 138 0013 8000 test range, no real person); the PDF is the real
output of bot/evidence/pdf.py. Needs pdftoppm (poppler-utils): installed with apt-get when missing and run as root.

    .venv/bin/python scripts/render-pdf-sample.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402

from bot.evidence.pdf import build_pdf  # noqa: E402
from bot.store import Store  # noqa: E402

CST = timezone(timedelta(hours=8))
OUT = ROOT / "docs" / "img"
NUMBERS = ["+8613800138000", "+8613800138001", "+8613800138002", "+8613800138003"]
TEXTS = [
    ("call", "未接来电，对方连续呼叫", {"missed": True}),
    (
        "sms",
        "【某某金融】你已逾期，再不还款就通知你单位领导和通讯录所有人",
        {"categories": ["third_party_contact"], "legal_basis": ["GB/T 45251—2025（推荐性国家标准）"]},
    ),
    ("call", "接通后对方骂我是老赖，说要让我身败名裂", {"categories": ["insult_or_intimidation"]}),
    ("contact", "给我妈打电话说我欠钱不还", {}),
    ("visit", "两个人到家门口拍门，说不还钱就天天来", {}),
]


def sample_log(store: Store) -> None:
    """Fill the store with a fortnight of made-up collection contacts."""
    start = datetime(2026, 11, 18, 9, 0, tzinfo=CST)
    for day in range(14):
        for n in range(2 + (day * 5) % 7):
            kind, text, extra = TEXTS[(day + n) % len(TEXTS)]
            at = start + timedelta(days=day, hours=n * 2.3 + (13 if n % 3 == 2 else 0))
            meta = {"numbers": [NUMBERS[(day + n) % len(NUMBERS)]], "precision": "minute", **extra}
            if kind == "call" and day == 6:
                meta["count"] = 4
            store.add_evidence("sample", kind, text, meta, at=at)


def main() -> int:
    """Build the PDF, then render pages 1 and 2."""
    if not shutil.which("pdftoppm"):
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "poppler-utils"], check=True)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        with Store(Path(tmp) / "sample.sqlite3", Fernet.generate_key()) as store:
            sample_log(store)
            pdf = build_pdf(
                store.list_evidence("sample"),
                store.verify_evidence("sample"),
                "zh-Hans",
                now=datetime(2026, 12, 3, 9, 0, tzinfo=CST),
            )
        path = Path(tmp) / "sample.pdf"
        path.write_bytes(pdf.data)
        subprocess.run(
            ["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "2", str(path), str(OUT / "evidence-pdf-page")],
            check=True,
        )
    for page in sorted(OUT.glob("evidence-pdf-page-*.png")):
        print(page.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
