"""The one reading of docs/legal-sources.md that tests use: the numbers and sites its hotline table lists."""

from __future__ import annotations

import re
from pathlib import Path

SOURCES = (Path(__file__).resolve().parent.parent / "docs" / "legal-sources.md").read_text(encoding="utf-8")
PHONE = re.compile(
    r"(?<![\d./-])(?:\d{3}-\d{3}-\d{4}|0\d{2,3}-\d{4,8}|123\d\d|96\d\d\d|1(?:10|19|20|22|65)|999)(?![\d/%-]|\.\d)"
)
"""What a dialable number looks like in the texts: 400-161-9995, 010-12321, 123xx, 96xxx, 110/119/120/122/165, 999."""
SITE = re.compile(r"(?:https?://)?((?:[a-z0-9-]+\.)+(?:cn|com|org|net)(?:\.cn)?)\b")
_TABLE = SOURCES.split("## Hotlines and sites")[1].split("Not used, and why")[0]  # the table, not the omissions
_FIRST_COLUMN = "\n".join(row.split("|")[1] for row in _TABLE.splitlines() if row.startswith("| ") and "---" not in row)
HOTLINES = frozenset(PHONE.findall(_FIRST_COLUMN))
"""Every number the table lists in its first column (a number only named in a note does not count)."""
SITES = frozenset(SITE.findall(_TABLE.lower()))
"""Every site the table names (a listed site, or the page a fact was taken from)."""
