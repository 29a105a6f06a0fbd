"""The PDF complaint file, with the chain check on its cover and one ready-to-fill letter per fitting channel.

It holds a cover summary, the pattern and its daily chart, the timeline, every entry with its hash, the rules that
may have been broken, and the letters. Built with fpdf2, which embeds (a subset of) a TrueType CJK font with a
ToUnicode map, so the Chinese text renders on any reader and can be searched and copied. Every sentence comes
from responses/<locale>/pdf.yml.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from datetime import date, datetime, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.fonts import FontFace

from bot.dialogue.content import t as text_of
from bot.dialogue.types import Attachment
from bot.evidence.chain import ChainReport
from bot.evidence.pack import CHINA_TIME, TIME_FORMAT, _tz_label, load_texts
from bot.evidence.parse import display_number
from bot.evidence.pattern import Pattern, compute, item_numbers
from bot.store import EvidenceItem

PDF_MIME = "application/pdf"
FONT_ENV = "BOT_PDF_FONT"
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
"""Where Debian's CJK font packages put their fonts (scripts/install-font.sh installs the first)."""
MAX_ENTRY_CHARS = 1500
"""An entry's text is cut here in the PDF (the CSV export keeps it whole)."""
MAX_CHART_DAYS = 62
SUMMARY_CHARS = 60
THREAT_CATEGORIES = ("insult_or_intimidation", "false_legal_threat", "impersonation", "scam_payment")
PRIVACY_CATEGORIES = ("privacy_exposure",)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028-\u202e\ufeff]")
_WS = re.compile(r"\s+")


class PdfFontMissing(RuntimeError):
    """No Chinese TrueType font is installed, so a PDF with readable Chinese cannot be made."""


@lru_cache(maxsize=1)
def find_cjk_font() -> Path | None:
    """Return a TrueType/OpenType CJK font: $BOT_PDF_FONT, a known Debian path, or what fontconfig lists."""
    configured = os.environ.get(FONT_ENV)
    if configured and Path(configured).is_file():
        return Path(configured)
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(
                ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in sorted(out.splitlines()):
            path = line.split(":")[0].strip()
            if path.lower().endswith((".ttf", ".ttc", ".otf")) and Path(path).is_file():
                return Path(path)
    return None


def _clean(text: str) -> str:
    """Drop control and direction characters (a pasted text must not reorder or hide the PDF's text)."""
    return _CONTROL.sub(" ", text)


def _line(text: str, limit: int) -> str:
    """One line of at most limit characters."""
    one = _WS.sub(" ", _clean(text)).strip()
    return one if len(one) <= limit else one[: limit - 1] + "…"


class _Doc(FPDF):
    """A4 pages with the CJK font and a page number in the footer."""

    def __init__(self, font: Path, page_label: str) -> None:
        super().__init__(format="A4")
        self.page_label = page_label
        kwargs: dict[str, Any] = {"collection_font_number": 0} if font.suffix.lower() == ".ttc" else {}
        self.add_font("cjk", fname=str(font), **kwargs)
        self.set_auto_page_break(auto=True, margin=16)
        self.set_margins(16, 16, 16)
        self.set_font("cjk", size=10)

    def footer(self) -> None:
        """Print the page number."""
        self.set_y(-12)
        self.set_font("cjk", size=8)
        self.set_text_color(120)
        self.cell(0, 6, self.page_label.format(page=self.page_no()), align="C")
        self.set_text_color(0)
        self.set_font("cjk", size=10)

    def heading(self, text: str) -> None:
        """A section heading."""
        self.ln(3)
        self.set_font("cjk", size=13)
        self.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        self.set_draw_color(180)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(2)
        self.set_font("cjk", size=10)

    def para(self, text: str, size: float = 10, gap: float = 1.5) -> None:
        """A paragraph."""
        self.set_font("cjk", size=size)
        self.multi_cell(0, size * 0.5 + 1, _clean(text), align="L", new_x="LMARGIN", new_y="NEXT")
        self.ln(gap)
        self.set_font("cjk", size=10)


def fitting_channels(items: Sequence[EvidenceItem], pattern: Pattern, lender_kind: str | None = None) -> list[str]:
    """Return the channels a letter is written for: the lender always, the others when the log fits them.

    lender_kind is the answer of the complaint flow (bank, cfc, platform, other) when the user gave one.
    """
    kinds = {i.kind for i in items}
    out = ["lender"]
    if lender_kind in (None, "bank", "cfc", "other"):
        out.append("nfra")
    if kinds & {"sms", "call"}:
        out.append("sms")
    threats = set(pattern.threats) & set(THREAT_CATEGORIES + PRIVACY_CATEGORIES)
    if threats or pattern.visits or pattern.posts:
        out.append("police")
    if pattern.numbers and kinds & {"sms", "call"}:
        out.append("carrier")
    if lender_kind in (None, "platform", "other"):
        out.append("nifa")
    return out


def _count_categories(pattern: Pattern, categories: Sequence[str]) -> int:
    """How many entries carry any of the categories (an entry is counted once per category it has)."""
    return sum(pattern.threats.get(c, 0) for c in categories)


def build_pdf(
    items: Sequence[EvidenceItem],
    report: ChainReport,
    locale: str,
    now: datetime | None = None,
    tz: tzinfo | None = None,
    lender_kind: str | None = None,
) -> Attachment:
    """Build the complaint file as a PDF; raises PdfFontMissing without a CJK font and ValueError for no items."""
    if not items:
        raise ValueError("an empty evidence log gives no PDF")
    font = find_cjk_font()
    if font is None:
        raise PdfFontMissing("no Chinese font found: run scripts/install-font.sh or set BOT_PDF_FONT")
    tz = tz or CHINA_TIME
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    pack = load_texts(locale)

    def t(key: str, **values: object) -> str:
        return text_of(locale, f"pdf.{key}", **values)

    ordered = sorted(items, key=lambda i: (i.at, i.id))
    pattern = compute(ordered, tz)
    kinds: dict[str, str] = pack["kinds"]
    blank = t("blank")
    first_day = ordered[0].at.astimezone(tz).strftime("%Y-%m-%d")
    last_day = ordered[-1].at.astimezone(tz).strftime("%Y-%m-%d")

    doc = _Doc(font, t("page", page="{page}"))
    doc.set_title(t("title"))
    doc.set_creator("cuishou-weiquan-bot")
    doc.add_page()

    # -- cover ----------------------------------------------------------------------------------------------
    doc.set_font("cjk", size=18)
    doc.multi_cell(0, 10, t("title"), align="C", new_x="LMARGIN", new_y="NEXT")
    doc.para(
        t("subtitle", count=len(ordered), date=now.astimezone(tz).strftime(TIME_FORMAT), tz=_tz_label(tz, now)),
        size=9,
    )
    doc.para(t("disclaimer"), size=8)
    doc.heading(t("cover.heading"))
    doc.para(t("cover.period", first=first_day, last=last_day))
    doc.para(t("cover.entries", entries=len(ordered), contacts=pattern.contacts))
    if report.ok:
        doc.set_text_color(0, 100, 0)
        doc.para(t("cover.chain_ok", count=report.count, head=report.head))
    else:
        doc.set_text_color(180, 0, 0)
        doc.para(t("cover.chain_broken", seq=report.first_bad_seq, id=report.first_bad_id), size=11)
    doc.set_text_color(0)
    doc.para(t("cover.proves"), size=8.5)
    doc.para(t("cover.keep_originals"), size=8.5)

    # -- the pattern ----------------------------------------------------------------------------------------
    doc.heading(t("figures.heading"))
    busiest = pattern.busiest
    days = max(1, len(pattern.per_day))
    if busiest:
        avg = f"{pattern.contacts / days:.1f}"
        doc.para(t("figures.per_day", avg=avg, day=busiest[0].isoformat(), max=busiest[1]), gap=0.5)
    doc.para(t("figures.night", count=pattern.night), gap=0.5)
    doc.para(t("figures.numbers", count=len(pattern.numbers)), gap=0.5)
    if pattern.numbers:
        shown = (
            "、".join(display_number(n) for n in pattern.numbers[:20])
            if locale != "en"
            else ", ".join(display_number(n) for n in pattern.numbers[:20])
        )
        doc.para(t("figures.numbers_list", numbers=shown), size=8.5, gap=0.5)
    doc.para(t("figures.third_party", count=pattern.third_party), gap=0.5)
    doc.para(t("figures.over_limit", count=len({d.day for d in pattern.over_limit})), gap=0.5)
    doc.para(t("figures.visits", visits=pattern.visits, posts=pattern.posts), gap=0.5)
    doc.para(t("figures.threats"), gap=0.5)
    cats: dict[str, str] = pack["categories"]
    if pattern.threats:
        for cat, n in pattern.threats.items():
            doc.para("  • " + t("figures.threat_line", category=cats.get(cat, cat), count=n), gap=0.2)
    else:
        doc.para("  " + t("figures.none"), gap=0.2)
    _chart(doc, pattern.per_day, t("figures.chart"))

    # -- timeline -------------------------------------------------------------------------------------------
    doc.add_page()
    doc.heading(t("timeline.heading"))
    doc.set_font("cjk", size=8)
    with doc.table(
        col_widths=(8, 26, 18, 34, 10, 82),
        text_align=("RIGHT", "LEFT", "LEFT", "LEFT", "RIGHT", "LEFT"),
        line_height=4.2,
        first_row_as_headings=True,
        headings_style=FontFace(emphasis="", fill_color=(235, 235, 235)),
    ) as table:
        table.row([t(f"timeline.{k}") for k in ("index", "time", "kind", "number", "times", "summary")])
        for no, item in enumerate(ordered, start=1):
            numbers = item_numbers(item)
            table.row(
                [
                    str(no),
                    item.at.astimezone(tz).strftime(TIME_FORMAT),
                    kinds.get(item.kind, item.kind),
                    display_number(numbers[0]) if numbers else "—",
                    str(item.meta.get("count", 1)),
                    _line(str(item.meta.get("summary") or item.text), SUMMARY_CHARS) or "—",
                ]
            )
    doc.set_font("cjk", size=10)

    # -- entries with hashes --------------------------------------------------------------------------------
    doc.heading(t("entries.heading"))
    for no, item in enumerate(ordered, start=1):
        doc.set_font("cjk", size=10)
        doc.multi_cell(
            0,
            5.5,
            t("entries.item", no=no, time=item.at.astimezone(tz).strftime(TIME_FORMAT), kind=kinds.get(item.kind)),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        details = []
        numbers = item_numbers(item)
        if numbers:
            details.append(t("entries.number", number=", ".join(display_number(n) for n in numbers)))
        if item.meta.get("count", 1) != 1:
            details.append(t("entries.count", count=item.meta.get("count")))
        if item.meta.get("time_words"):
            details.append(t("entries.time_words", words=_line(str(item.meta["time_words"]), 40)))
        if details:
            doc.para(" · ".join(details), size=8.5, gap=0.3)
        body = _clean(item.text.strip())
        if body:
            doc.para(body if len(body) <= MAX_ENTRY_CHARS else body[: MAX_ENTRY_CHARS - 1] + "…", size=9, gap=0.3)
        doc.set_text_color(90)
        doc.para(t("entries.seq_hash", seq=item.seq, hash=item.hash), size=7, gap=2)
        doc.set_text_color(0)

    # -- rules ----------------------------------------------------------------------------------------------
    doc.heading(t("violations.heading"))
    doc.para(t("violations.intro"), size=9)
    found = _violations(ordered, pattern, t, tz)
    for line in found:
        doc.para("• " + line, size=9.5)
    if pattern.legal_basis:
        doc.para(t("violations.sms_rules"), size=9.5, gap=0.5)
        for rule in pattern.legal_basis:
            doc.para("  – " + _line(rule, 300), size=9, gap=0.3)
    if not found and not pattern.legal_basis:
        doc.para(t("violations.empty"))

    # -- letters --------------------------------------------------------------------------------------------
    sep = "、" if locale != "en" else ", "
    facts = t(
        "letters.facts",
        first=first_day,
        last=last_day,
        contacts=pattern.contacts,
        numbers=len(pattern.numbers),
        night=pattern.night,
        third=pattern.third_party,
        over=len({d.day for d in pattern.over_limit}),
    )
    numbers_text = sep.join(display_number(n) for n in pattern.numbers[:30]) or blank
    for no, channel in enumerate(fitting_channels(ordered, pattern, lender_kind)):
        doc.add_page()
        if no == 0:
            doc.heading(t("letters.heading"))
            doc.para(t("letters.intro"), size=9)
        doc.set_font("cjk", size=12)
        doc.multi_cell(0, 7, t(f"letters.{channel}.subject"), new_x="LMARGIN", new_y="NEXT")
        doc.ln(1)
        doc.para(t("letters.to") + t(f"letters.{channel}.to", blank=blank))
        doc.para(t("letters.subject") + t(f"letters.{channel}.subject"))
        doc.para(t(f"letters.{channel}.body", blank=blank, facts=facts, numbers=numbers_text))
        doc.para(t("letters.attach"), gap=0.3)
        doc.para(t(f"letters.{channel}.attach"), size=9.5)
        doc.para(t("letters.deadline") + t(f"letters.{channel}.deadline"), size=9.5)
        doc.ln(4)
        doc.para(t("letters.sign", blank=blank))

    data = bytes(doc.output())
    return Attachment(filename=f"complaint-file-{now.astimezone(tz):%Y%m%d}.pdf", data=data, mime_type=PDF_MIME)


def _violations(items: Sequence[EvidenceItem], pattern: Pattern, t: Any, tz: tzinfo) -> list[str]:
    """The rules the figures relate to, each as one sentence with its source."""
    out = []
    if pattern.night:
        out.append(t("violations.night", count=pattern.night))
    if pattern.over_limit:
        days = {d.day for d in pattern.over_limit}
        out.append(t("violations.over_limit", count=len(days), missed=sum(d.missed for d in pattern.over_limit)))
    if pattern.third_party:
        out.append(t("violations.third_party", count=pattern.third_party))
    if len(pattern.numbers) > 1:
        out.append(t("violations.numbers", count=len(pattern.numbers)))
    threats = _count_categories(pattern, THREAT_CATEGORIES)
    if threats:
        out.append(t("violations.threats", count=threats))
    privacy = _count_categories(pattern, PRIVACY_CATEGORIES) + pattern.posts
    if privacy:
        out.append(t("violations.privacy", count=privacy))
    from bot.evidence.pattern import is_night

    night_visits = sum(1 for i in items if i.kind == "visit" and is_night(i, tz))
    if night_visits:
        out.append(t("violations.visits_night", count=night_visits))
    return out


def _chart(doc: _Doc, per_day: dict[date, int], title: str) -> None:
    """Draw the contacts-per-day bar chart (the last MAX_CHART_DAYS days with contacts, gaps included)."""
    if not per_day:
        return
    days = sorted(per_day)
    start = max(days[0], days[-1].fromordinal(days[-1].toordinal() - MAX_CHART_DAYS + 1))
    span = [start.fromordinal(o) for o in range(start.toordinal(), days[-1].toordinal() + 1)]
    peak = max(per_day.get(d, 0) for d in span) or 1
    left, width, height = doc.l_margin + 8, doc.w - doc.l_margin - doc.r_margin - 10, 42.0
    if doc.get_y() + height + 20 > doc.h - doc.b_margin:
        doc.add_page()
    doc.ln(2)
    doc.set_font("cjk", size=10)
    doc.multi_cell(0, 6, title, new_x="LMARGIN", new_y="NEXT")
    top = doc.get_y() + 2
    base = top + height
    doc.set_draw_color(120)
    doc.line(left, base, left + width, base)
    doc.line(left, top, left, base)
    doc.set_font("cjk", size=6.5)
    doc.set_xy(left - 8, top - 1.5)
    doc.cell(7, 3, str(peak), align="R")
    doc.set_xy(left - 8, base - 1.5)
    doc.cell(7, 3, "0", align="R")
    slot = width / len(span)
    doc.set_fill_color(200, 60, 50)
    label_every = max(1, len(span) // 10)
    for n, day in enumerate(span):
        value = per_day.get(day, 0)
        x = left + n * slot + slot * 0.15
        if value:
            bar = height * value / peak
            doc.rect(x, base - bar, slot * 0.7, bar, style="F")
            if slot >= 5:
                doc.set_xy(x - 1, base - bar - 3.5)
                doc.cell(slot * 0.7 + 2, 3, str(value), align="C")
        if n % label_every == 0:
            doc.set_xy(x - 3, base + 0.8)
            doc.cell(slot * 0.7 + 6, 3, day.strftime("%m-%d"), align="C")
    doc.set_y(base + 6)
    doc.set_font("cjk", size=10)
    doc.set_fill_color(255)
