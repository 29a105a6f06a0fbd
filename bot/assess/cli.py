"""Command-line faces of the assessment: a human-readable report and the JSON-lines batch mode."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, TextIO

from bot.assess.engine import assess, resolve_locale
from bot.assess.model import Assessment
from bot.assess.rules import get_rules

NOT_LEGAL_ADVICE = "这不是法律意见 / not legal advice"
_QUOTE = {"zh-Hans": ("「", "」"), "zh-Hant": ("「", "」"), "en": ("\u201c", "\u201d")}


def format_report(a: Assessment, locale: str) -> str:
    """Render an assessment as a short multi-line report in the user's locale."""
    loc = resolve_locale(locale) if locale != "auto" else a.locale
    rules = get_rules()

    def t(section: str, key: str) -> str:
        return rules.text(section, key, loc)

    colon = ": " if loc == "en" else "："
    heading = ":" if loc == "en" else "："
    lq, rq = _QUOTE.get(loc, _QUOTE["zh-Hans"])
    lines = [f"{t('labels', 'title')}", f"{t('labels', 'risk')}{colon}{t('risk', a.risk)}"]
    if a.categories:
        sep = ", " if loc == "en" else "、"
        names = sep.join(t("categories", c) for c in a.categories)
        lines.append(f"{t('labels', 'categories')}{colon}{names}")
    if a.off_hours:
        lines.append(f"⏰ {t('labels', 'off_hours')}")
    lines.append("")
    if a.findings:
        lines.append(f"{t('labels', 'findings')}{heading}")
        for i, f in enumerate(a.findings, 1):
            lines.append(f"{i}. {lq}{f.text}{rq} — {t('categories', f.category)}")
            lines.append(f"   {t('labels', 'why')}{colon}{f.explanation}")
            if f.legal_basis:
                lines.append(f"   {t('labels', 'basis')}{colon}{f.legal_basis}")
    else:
        lines.append(t("labels", "none_found"))
    lines.append("")
    lines.append(f"{t('labels', 'advice')}{heading}")
    lines.extend(f"- {adv.text}" for adv in a.advice)
    if a.notes:
        lines.append("")
        lines.append(f"{t('labels', 'notes')}{heading}")
        lines.extend(f"- {n}" for n in a.notes)
    lines.append("")
    lines.append(f"⚖ {NOT_LEGAL_ADVICE}")
    return "\n".join(lines)


def _parse_time(value: Any) -> datetime | None:
    """Parse an ISO-8601 `received_at` (a trailing Z is accepted); None stays None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError('"received_at" must be an ISO-8601 string')
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f'"received_at" is not ISO-8601: {value!r}') from exc


def assess_line(line: str) -> dict[str, Any]:
    """Assess one JSON input line; a bad line gives {"error": ...} instead of raising."""
    try:
        obj = json.loads(line)
    except ValueError as exc:
        return {"error": f"bad input line: not JSON ({getattr(exc, 'msg', 'invalid')})"}
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return {"error": 'bad input line: each line must be a JSON object with a string "text" field'}
    locale = obj.get("locale", "auto")
    if not isinstance(locale, str):
        return {"error": 'bad input line: "locale" must be a string'}
    try:
        received_at = _parse_time(obj.get("received_at"))
    except ValueError as exc:
        return {"error": f"bad input line: {exc}"}
    try:
        out = assess(obj["text"], received_at=received_at, locale=locale).to_dict()
    except Exception as exc:  # the batch goes on; never echo the message text
        return {"error": f"could not assess this line: {type(exc).__name__}"}
    if "id" in obj:
        out = {"id": obj["id"], **out}
    return out


def run_jsonl(stdin: TextIO, stdout: TextIO) -> int:
    """Answer one JSON line per input line, in the same order; bad lines get an "error" field."""
    for line in stdin:
        if not line.strip():
            out: dict[str, Any] = {"error": "bad input line: empty"}
        else:
            out = assess_line(line)
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        stdout.flush()
    return 0
