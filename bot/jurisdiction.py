"""Where a borrower seems to be, from what they write or forward: Hong Kong, Macau, Taiwan, or abroad.

Pure: text in, a place code (or None) out. The bot's legal guidance is mainland China's; a clear sign that the
user is elsewhere makes the legal screens and the SMS report say so (docs/legal-sources.md, "Jurisdiction").
Signals: the place named (Simplified, Traditional, English), a +852/+853/+886 phone number, an amount in
HK$/NT$/MOP. Lenders are not used as a signal: there is no reliable list of lenders by place in the project.
A mainland street named after a place (香港路, 澳门路, 台湾路 exist in many cities) is not a signal.
"""

from __future__ import annotations

import re
import unicodedata

PLACES = ("hk", "mo", "tw", "abroad")

_NOT_A_STREET = r"(?![中东西南北東]?[路街道])"
_NOT_A_WORD_WITH_TAI = r"(?<![平舞阳陽烟煙前后後柜櫃讲講站吧])"  # 平台北京 is "platform, Beijing", not 台北
_WORD_START = r"(?<![a-z])"
_WORD_END = r"(?![a-z])"
_PHONE_END = r"[\s\-)]*\d"  # a country code only counts when digits follow it

_SIGNALS: tuple[tuple[str, str], ...] = (
    # place names
    ("hk", rf"(?:香港|尖沙咀|旺角|铜锣湾|銅鑼灣){_NOT_A_STREET}"),
    ("hk", rf"{_WORD_START}(?:hong\s?kong|hk sar|kowloon){_WORD_END}"),
    ("mo", rf"(?:澳[门門]|[氹凼]仔){_NOT_A_STREET}"),
    ("mo", rf"{_WORD_START}(?:macau|macao){_WORD_END}"),
    ("tw", rf"{_NOT_A_WORD_WITH_TAI}(?:[台臺][湾灣]|[台臺]北|[台臺]中市|[台臺]南市){_NOT_A_STREET}"),
    ("tw", rf"(?:高雄|新北市|桃园市|桃園市){_NOT_A_STREET}"),
    ("tw", rf"{_WORD_START}(?:taiwan|taipei|kaohsiung|taichung){_WORD_END}"),
    # phone numbers with the country code
    ("hk", rf"(?<!\d)(?:\+|00)\s?852{_PHONE_END}"),
    ("mo", rf"(?<!\d)(?:\+|00)\s?853{_PHONE_END}"),
    ("tw", rf"(?<!\d)(?:\+|00)\s?886{_PHONE_END}"),
    # amounts
    ("hk", rf"hk\$|{_WORD_START}hkd{_WORD_END}|港[币幣元]"),
    ("mo", rf"{_WORD_START}mop\$?|澳[门門]?[币幣元]|葡[币幣]"),
    ("tw", rf"nt\$|{_WORD_START}(?:ntd|twd){_WORD_END}|{_NOT_A_WORD_WITH_TAI}新?[台臺][币幣]"),
    # living or being in another country (a bare country name is not enough: "美元", "日本的App")
    (
        "abroad",
        r"(?:我|本人|现在|現在|目前)(?:人)?(?:住)?在(?:国外|國外|海外|美国|美國|英国|英國|加拿大|澳大利亚|澳大利亞|澳洲"
        r"|新加坡|马来西亚|馬來西亞|日本|韩国|韓國|德国|德國|法国|法國|新西兰|紐西蘭|泰国|泰國|菲律宾|菲律賓)",
    ),
    (
        "abroad",
        rf"{_WORD_START}(?:i'm|i am|i live|i'm living|i am living|i'm based|i am based)\s+(?:abroad|overseas|in\s+"
        r"(?:the\s+)?(?:us|usa|united states|uk|united kingdom|england|canada|australia|singapore|malaysia|japan"
        rf"|korea|germany|france|new zealand|thailand|the philippines|philippines)){_WORD_END}",
    ),
)
_PATTERNS = tuple((place, re.compile(pattern)) for place, pattern in _SIGNALS)
MAX_SCAN_CHARS = 20_000
"""Only the start of a huge paste is scanned."""


def _normalise(text: str) -> str:
    """Half-width, lower case, curly apostrophes straightened."""
    return unicodedata.normalize("NFKC", text[:MAX_SCAN_CHARS]).lower().replace("’", "'")


def detect_place(text: str) -> str | None:
    """Return where the text points to (hk, mo, tw, abroad), the earliest signal first, or None."""
    if not text:
        return None
    norm = _normalise(text)
    best: tuple[int, str] | None = None
    for place, pattern in _PATTERNS:
        match = pattern.search(norm)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), place)
    return best[1] if best else None
