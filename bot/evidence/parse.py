"""Read an incident from what the user typed: when it happened, which numbers, how many times, what kind.

Times in words ("昨天晚上十点多", "前天下午", "昨晚11点半") are found and resolved by JioNLP's time parser (it
understands relative days, parts of the day and Chinese numerals); Traditional text is turned into Simplified for
it first. English gets the few forms people type ("yesterday 9pm", "26 Nov 21:40") through dateutil. Phone numbers
are read with phonenumbers (the Google libphonenumber data: +86, spaces, dashes, landlines with area codes);
masked numbers such as "138xxxx" are kept as written.
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any

import cn2an
import phonenumbers

from bot.textnorm import to_halfwidth, to_simplified

MAX_PARSE_CHARS = 400
"""Only the start of a long paste is searched for the time and numbers (a 100 KB paste is still logged whole)."""
FUTURE_SLACK = timedelta(minutes=10)
REGION = "CN"

_jio_lock = threading.Lock()
_MASKED = re.compile(r"(?<![\dA-Za-z])(1[3-9]\d[\d*xX＊]{3,8}|0\d{2,3}[-\s]?[\d*xX]{4,8})(?![\dA-Za-z])")
_HIDDEN = re.compile(r"[A-Za-z*＊]")  # a masked number: phonenumbers would read letters as keypad digits
_COUNT = re.compile(
    r"(?:打了|打来|来了|发了|打|来电|电话|短信|发)\s*([0-9一二两三四五六七八九十百]+)\s*(?:次|个|通|条|遍)"
)
_COUNT_EN = re.compile(r"\b(\d{1,3})\s*(?:times|calls|messages|texts)\b", re.IGNORECASE)
_EXPLICIT_DAY = re.compile(r"[今昨前明后]天|[今昨明]晚|[今昨明]早|前晚|号|日|月|周|星期|礼拜|\d{4}[-/.]\d")
_EN_YESTERDAY = re.compile(r"\b(yesterday|last night)\b", re.IGNORECASE)
_EN_TIME = re.compile(
    r"\b(\d{1,2})(?::(\d{2}))?\s*(am|pm)\b|\b(\d{1,2}):(\d{2})\b|\b(\d{1,2})\s+"
    r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b",
    re.IGNORECASE,
)

KIND_WORDS: dict[str, tuple[str, ...]] = {
    "visit": ("上门", "来家", "堵门", "到家", "到我家", "家门口", "到单位", "来单位", "visit", "came to my", "door"),
    "post": ("发帖", "张贴", "贴了", "曝光", "发到群", "朋友圈", "喷漆", "poster", "posted", "published"),
    "contact": (
        "家人",
        "父母",
        "我妈",
        "我爸",
        "老婆",
        "老公",
        "朋友",
        "同事",
        "领导",
        "通讯录",
        "联系人",
        "family",
        "friend",
        "colleague",
        "my boss",
        "contacts",
    ),
    "call": ("打了", "打来", "来电", "电话", "未接", "call", "rang", "phoned"),
    "sms": ("短信", "发信", "信息", "sms", "text message"),
}
"""Words that tell the kind of a one-line incident, tried in this order (a visit may mention a phone call)."""


@dataclass(frozen=True)
class WhenFound:
    """A time read from text: the instant (start of what was said), how precise it is, and the words used."""

    at: datetime
    precision: str
    words: str


@dataclass(frozen=True)
class Incident:
    """What one typed line says about an incident; any part may be missing."""

    kind: str | None = None
    when: WhenFound | None = None
    numbers: list[str] = field(default_factory=list)
    count: int = 1
    future: bool = False


@lru_cache(maxsize=1)
def _jio() -> Any:
    """Import JioNLP once, keeping its import banner off our output."""
    with contextlib.redirect_stdout(io.StringIO()):
        import jionlp

    return jionlp


def _precision(start: datetime, end: datetime, definition: str) -> str:
    """Name how precise a parsed span is: minute, hour, part of the day, or day."""
    span = end - start
    if definition == "accurate" and span < timedelta(minutes=2):
        return "minute"
    if definition == "accurate" and span < timedelta(hours=1, minutes=1):
        return "hour"
    if span < timedelta(hours=12):
        return "part_of_day"
    return "day"


def _zh_time(text: str, now: datetime, tz: tzinfo) -> tuple[WhenFound | None, bool]:
    """Find the first time expression in Chinese text; (found, said_future)."""
    base = now.astimezone(tz).replace(tzinfo=None)
    with _jio_lock:  # the parser keeps state between calls
        try:
            found = _jio().ner.extract_time(text, time_base=base, with_parsing=True)
        except Exception:  # an odd input must not break logging: ask for the time instead
            return None, False
    for hit in found:
        detail = hit.get("detail") or {}
        if detail.get("type") != "time_point" or not detail.get("time"):
            continue
        start = datetime.fromisoformat(str(detail["time"][0])).replace(tzinfo=tz)
        end = datetime.fromisoformat(str(detail["time"][-1])).replace(tzinfo=tz)
        words = str(hit.get("text", ""))
        # a later calendar day is the future even a minute before midnight ("明天" said at 23:59)
        if start > now + FUTURE_SLACK or (start > now and start.date() > base.date()):
            if _EXPLICIT_DAY.search(words):
                return None, True
            start, end = start - timedelta(days=1), end - timedelta(days=1)  # "11点半" said in the morning
        return WhenFound(start, _precision(start, end, str(detail.get("definition", ""))), words), False
    return None, False


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _en_time(text: str, now: datetime, tz: tzinfo) -> tuple[WhenFound | None, bool]:
    """Read "yesterday 9pm", "at 21:40 on 26 Nov", "last night 11:30pm" from English text."""
    local = now.astimezone(tz)
    day = local.date()
    hour: int | None = None
    minute = 0
    words: list[str] = []
    explicit_day = False
    for m in _EN_TIME.finditer(text):
        words.append(m.group(0))
        if m.group(3):
            hour = int(m.group(1)) % 12 + (12 if m.group(3).lower() == "pm" else 0)
            minute = int(m.group(2) or 0)
        elif m.group(4):
            hour, minute = int(m.group(4)), int(m.group(5))
        else:
            month = _MONTHS.index(m.group(7).lower()[:3]) + 1
            with contextlib.suppress(ValueError):
                day = day.replace(month=month, day=int(m.group(6)))
                if day > local.date():
                    day = day.replace(year=day.year - 1)
                explicit_day = True
    yesterday = _EN_YESTERDAY.search(text)
    if yesterday:
        words.insert(0, yesterday.group(0))
        day = local.date() - timedelta(days=1)
        explicit_day = True
    if hour is None and not explicit_day:
        return None, False
    if hour is not None and not (0 <= hour < 24 and 0 <= minute < 60):
        return None, False
    at = datetime(day.year, day.month, day.day, hour or 0, minute, tzinfo=tz)
    if at > now + FUTURE_SLACK:
        if explicit_day:
            return None, True
        at -= timedelta(days=1)
    return WhenFound(at, "minute" if hour is not None else "day", " ".join(words)), False


def find_time(text: str, now: datetime, tz: tzinfo) -> tuple[WhenFound | None, bool]:
    """Return the time an incident happened as said in text (or None), and whether the text named a future time."""
    head = to_halfwidth(text[:MAX_PARSE_CHARS])
    if re.search(r"[\u4e00-\u9fff]", head):
        return _zh_time(to_simplified(head), now, tz)
    return _en_time(head, now, tz)


def normalise_number(raw: str) -> str:
    """Write a phone number in one form: +86 mobile and landline in E.164, others as typed without spaces."""
    if _HIDDEN.search(raw):
        return re.sub(r"\s+", "", raw)
    try:
        num = phonenumbers.parse(raw, REGION)
    except phonenumbers.NumberParseException:
        return re.sub(r"\s+", "", raw)
    if phonenumbers.is_possible_number(num):
        return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    return re.sub(r"\s+", "", raw)


def display_number(e164: str) -> str:
    """Format a stored number for reading: "+86 138 0013 8000" (masked or unknown forms as they are)."""
    if _HIDDEN.search(e164):
        return e164
    try:
        num = phonenumbers.parse(e164, REGION)
    except phonenumbers.NumberParseException:
        return e164
    if not phonenumbers.is_possible_number(num):
        return e164
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def find_numbers(text: str) -> list[str]:
    """Return the phone numbers in text (E.164 when complete, masked ones as written), first-seen order."""
    head = to_halfwidth(text[:MAX_PARSE_CHARS])
    found: list[tuple[int, str]] = []
    spans: list[tuple[int, int]] = []
    for match in phonenumbers.PhoneNumberMatcher(head, REGION, leniency=phonenumbers.Leniency.POSSIBLE):
        found.append((match.start, phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)))
        spans.append((match.start, match.end))
    for m in _MASKED.finditer(head):
        if any(a <= m.start() < b for a, b in spans) or not re.search(r"[*xX＊]", m.group(0)):
            continue
        found.append((m.start(), m.group(0)))
    found.sort()
    return list(dict.fromkeys(number for _, number in found))


def find_count(text: str) -> int:
    """Return how many contacts a line reports ("打了3次", "三次", "5 times"); 1 when it does not say."""
    head = to_simplified(to_halfwidth(text[:MAX_PARSE_CHARS]))
    m = _COUNT.search(head) or _COUNT_EN.search(head)
    if not m:
        return 1
    try:
        value = int(cn2an.cn2an(m.group(1), "smart"))
    except (ValueError, KeyError):
        return 1
    return value if 1 <= value <= 500 else 1


def find_kind(text: str) -> str | None:
    """Guess the kind of incident from its words; None when nothing says."""
    head = to_simplified(text[:MAX_PARSE_CHARS]).lower()
    for kind, words in KIND_WORDS.items():
        if any(w in head for w in words):
            return kind
    return None


def parse_incident(text: str, now: datetime, tz: tzinfo) -> Incident:
    """Read everything a one-line incident says."""
    when, future = find_time(text, now, tz)
    return Incident(kind=find_kind(text), when=when, numbers=find_numbers(text), count=find_count(text), future=future)
