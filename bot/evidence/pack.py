"""Complaint pack and evidence-log export: the user's logged incidents as a file to hand to a channel.

Every label and sentence comes from responses/<locale>/pack.yml; this module only arranges them.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.config import LOCALES, ROOT
from bot.dialogue.types import Attachment
from bot.store import EvidenceItem

RESPONSES_DIR = ROOT / "responses"
PACK_FILE = "pack.yml"
# Mainland China, Hong Kong and Taiwan all keep UTC+8 all year (no DST), so a fixed offset is exact.
CHINA_TIME = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M"
EXCERPT_CHARS = 80
MARKDOWN_MIME = "text/markdown"
CSV_MIME = "text/csv"

DETAIL_KEYS = ("name", "phone", "lender", "app", "contract_no", "collectors", "agency", "already_done")
REQUEST_KEYS = ("stop_third_parties", "delete_contacts", "replace_collector", "credit_record", "instalment")
CHANNEL_KEYS = ("lender", "nfra", "sms", "police", "nifa", "local", "legal_aid")
RESPONDENT_KEYS = ("lender", "app", "contract_no", "collectors", "agency")

_WS = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CELL_ESCAPES = str.maketrans({"\\": "\\\\", "|": "\\|", "`": "\\`", "<": "&lt;", ">": "&gt;"})
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@lru_cache(maxsize=len(LOCALES))
def load_texts(locale: str) -> dict[str, Any]:
    """Load responses/<locale>/pack.yml once."""
    if locale not in LOCALES:
        raise ValueError(f"locale {locale!r} is not one of: {', '.join(LOCALES)}")
    path: Path = RESPONSES_DIR / locale / PACK_FILE
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of texts")
    return data


def _one_line(text: str) -> str:
    """Collapse whitespace and drop control characters."""
    return _WS.sub(" ", _CONTROL.sub(" ", text)).strip()


def _cell(text: str) -> str:
    """Make text safe inside a Markdown table cell or list line (one line, no pipes, no raw HTML)."""
    return _one_line(text).translate(_CELL_ESCAPES)


def _excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """Return the first limit characters of text on one line, with an ellipsis when cut."""
    line = _one_line(text)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _fence(text: str) -> str:
    """Return a code-fence longer than any backtick run in text, so the text cannot break out of it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _local(at: datetime, tz: tzinfo) -> str:
    """Format an instant in the display time zone."""
    return at.astimezone(tz).strftime(TIME_FORMAT)


def _tz_label(tz: tzinfo, when: datetime) -> str:
    """Name the display time zone as a UTC offset, e.g. UTC+08:00."""
    offset = when.astimezone(tz).utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _strings(value: Any) -> list[str]:
    """Read a meta value that should be a list of strings (a lone string or dicts are tolerated)."""
    if value is None:
        return []
    if isinstance(value, str | dict):
        value = [value]
    out = []
    for entry in value if isinstance(value, Iterable) else [value]:
        if isinstance(entry, dict):
            entry = entry.get("text") or entry.get("label") or " ".join(str(v) for v in entry.values())
        text = _one_line(str(entry))
        if text:
            out.append(text)
    return out


def _unique(values: Iterable[str]) -> list[str]:
    """Deduplicate, keeping the first-seen order."""
    return list(dict.fromkeys(values))


def _risk_text(item: EvidenceItem, t: dict[str, Any]) -> str:
    """Describe the item's risk and categories in the user's language."""
    parts = []
    risk = item.meta.get("risk")
    if isinstance(risk, str) and risk:
        parts.append(t["risk"].get(risk, risk))
    cats = [t["categories"].get(c, c) for c in _strings(item.meta.get("categories"))]
    if cats:
        parts.append(t["list_sep"].join(cats))
    return " · ".join(parts)


def _sender(item: EvidenceItem) -> str:
    """Return the sender or caller recorded for the item, if any."""
    for key in ("sender", "number", "caller"):
        value = item.meta.get(key)
        if value:
            return _one_line(str(value))
    return ""


def _ordered(items: Sequence[EvidenceItem]) -> list[EvidenceItem]:
    """Sort items by when they happened, then by logging order."""
    return sorted(items, key=lambda i: (i.at, i.id))


def build_complaint_pack(
    items: list[EvidenceItem],
    locale: str,
    details: dict[str, str] | None = None,
    now: datetime | None = None,
    tz: tzinfo | None = None,
) -> Attachment:
    """Build the complaint pack as a UTF-8 Markdown file, with blanks wherever the user must fill in.

    details may carry the DETAIL_KEYS; times are shown in tz (default UTC+8, China time).
    """
    t = load_texts(locale)
    tz = tz or CHINA_TIME
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    info = {k: _cell(v) for k, v in (details or {}).items() if k in DETAIL_KEYS and v and _cell(v)}
    blank = t["blank"]
    ordered = _ordered(items)
    lines: list[str] = [
        f"# {t['title']}",
        "",
        f"> {t['disclaimer']}",
        "",
        t["generated"].format(date=_local(now, tz)),
        t["time_note"].format(tz=_tz_label(tz, now)),
        "",
    ]

    def section(key: str) -> None:
        lines.extend([f"## {t['sections'][key]}", ""])

    section("complainant")
    c = t["complainant"]
    sep = t["colon"]
    lines += [
        f"- {c['name']}{sep}{info.get('name', blank)}",
        f"- {c['phone']}{sep}{info.get('phone', blank)}",
        f"- {c['id_number']}{sep}{blank}",
        "",
        f"_{c['id_note']}_",
        "",
    ]

    section("respondent")
    r = t["respondent"]
    senders = _unique(s for s in (_sender(i) for i in ordered) if s)
    collectors = info.get("collectors") or t["list_sep"].join(_cell(s) for s in senders)
    values = {**info, "collectors": collectors}
    lines += [f"- {r[k]}{sep}{values.get(k) or blank}" for k in RESPONDENT_KEYS]
    lines.append("")

    section("incidents")
    inc = t["incidents"]
    if ordered:
        lines += [
            "| " + " | ".join(inc[k] for k in ("number", "time", "kind", "sender", "summary", "risk")) + " |",
            "|---|---|---|---|---|---|",
        ]
        for no, item in enumerate(ordered, start=1):
            summary = item.meta.get("summary")
            summary_text = _excerpt(str(summary)) if summary else _excerpt(item.text)
            lines.append(
                f"| {no} | {_local(item.at, tz)} | {_cell(t['kinds'].get(item.kind, item.kind))} "
                f"| {_cell(_sender(item)) or t['none']} | {_cell(summary_text) or t['none']} "
                f"| {_cell(_risk_text(item, t)) or t['none']} |"
            )
    else:
        lines.append(inc["empty"])
    lines.append("")

    section("rules")
    rules = _unique(rule for item in ordered for rule in _strings(item.meta.get("legal_basis")))
    if rules:
        lines += [t["rules"]["intro"], ""] + [f"- {_cell(rule)}" for rule in rules]
    else:
        lines.append(t["rules"]["empty"])
    lines.append("")

    section("evidence")
    ev = t["evidence"]
    lines += [ev["intro"], ""]
    for no, item in enumerate(ordered, start=1):
        kind = t["kinds"].get(item.kind, item.kind)
        entry = ev["item"].format(no=no, time=_local(item.at, tz), kind=kind)
        sender = _sender(item)
        lines.append(f"{no}. {_cell(entry)}{_cell(ev['sender'].format(sender=sender)) if sender else ''}")
    lines += [f"{len(ordered) + 1}. {ev['more']} {blank}", "", f"_{t['keep_originals']}_", ""]

    section("requests")
    req = t["requests"]
    lines += [req["intro"], ""] + [f"- [ ] {req[k]}" for k in REQUEST_KEYS] + [""]

    section("already_done")
    lines += [info.get("already_done") or t["already_done"]["template"], ""]

    section("channels")
    ch = t["channels"]
    lines += [ch["intro"], ""] + [f"{n}. {ch[k]}" for n, k in enumerate(CHANNEL_KEYS, start=1)] + [""]

    lines += [t["signature"].format(blank=blank), ""]

    texts = [(no, item) for no, item in enumerate(ordered, start=1) if item.text.strip()]
    if texts:
        section("appendix")
        for no, item in texts:
            heading = inc["item_heading"].format(
                no=no, time=_local(item.at, tz), kind=t["kinds"].get(item.kind, item.kind)
            )
            body = _CONTROL.sub(" ", item.text)
            fence = _fence(body)
            lines += [f"### {_cell(heading)}", "", fence, body, fence, ""]

    data = "\n".join(lines).encode("utf-8")
    return Attachment(filename=f"complaint-pack-{now.astimezone(tz):%Y%m%d}.md", data=data, mime_type=MARKDOWN_MIME)


def _csv_safe(value: str) -> str:
    """Stop a spreadsheet from running a cell as a formula (text from collectors is untrusted)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def export_evidence_log(
    items: list[EvidenceItem],
    locale: str,
    now: datetime | None = None,
    tz: tzinfo | None = None,
) -> Attachment:
    """Export the evidence log as a CSV file (UTF-8 with BOM so Excel shows Chinese correctly)."""
    t = load_texts(locale)
    tz = tz or CHINA_TIME
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    h = t["log"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            h["number"],
            f"{h['time']} ({_tz_label(tz, now)})",
            h["kind"],
            h["sender"],
            h["risk"],
            h["categories"],
            h["legal_basis"],
            h["text"],
            h["logged_at"],
        ]
    )
    for no, item in enumerate(_ordered(items), start=1):
        risk = item.meta.get("risk")
        writer.writerow(
            [
                str(no),
                _local(item.at, tz),
                t["kinds"].get(item.kind, item.kind),
                _csv_safe(_sender(item)),
                t["risk"].get(risk, str(risk)) if risk else "",
                t["list_sep"].join(t["categories"].get(c, c) for c in _strings(item.meta.get("categories"))),
                _csv_safe("; ".join(_strings(item.meta.get("legal_basis")))),
                _csv_safe(item.text),
                _local(item.created_at, tz),
            ]
        )
    data = out.getvalue().encode("utf-8-sig")
    return Attachment(filename=f"evidence-log-{now.astimezone(tz):%Y%m%d}.csv", data=data, mime_type=CSV_MIME)
