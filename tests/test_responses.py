"""What users read: every locale has every text with the same placeholders, in the right script, and every
hotline, site and law citation is one from the fact sheet.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.assess.model import CATEGORIES
from bot.config import LOCALES
from bot.dialogue import content
from bot.dialogue.commands import COMMANDS
from bot.dialogue.flows import book
from bot.dialogue.hooks import CHECKLIST, complaint_channels
from bot.dialogue.place import LOCAL_EMERGENCY
from bot.jurisdiction import PLACES
from bot.store import EVIDENCE_KINDS
from bot.textnorm import converter
from tests._legal_sources import HOTLINES, PHONE, SITE, SITES, SOURCES

ROOT = Path(__file__).resolve().parent.parent
RESPONSES = ROOT / "responses"
CODE = [*sorted((ROOT / "bot" / "dialogue").glob("*.py")), ROOT / "bot" / "channels" / "console.py"]

MAX_LABEL_CHARS = 40
MAX_TEXT_CHARS = 4096
# Native names of the languages stay in their own script in every locale.
SCRIPT_EXEMPT = {"buttons.lang:zh-Hans", "buttons.lang:zh-Hant", "commands.language"}
# Characters OpenCC s2t would change that are also correct Traditional in our phrases (干擾, 吃飯, 才可以).
BOTH_SCRIPTS = set("干吃才")


_KEY_CALL = re.compile(r"""\bt\(\s*(?:self\.locale|turn\.locale|locale)?\s*,?\s*"([a-z_]+\.[a-z_.:-]+)\"""")


def _files(locale: str) -> dict[str, Path]:
    return {p.name: p for p in sorted((RESPONSES / locale).glob("*.yml"))}


def _texts(locale: str) -> dict[str, str]:
    return content.load_locale_dir(RESPONSES / locale)


def test_every_locale_has_the_same_files() -> None:
    names = {locale: set(_files(locale)) for locale in LOCALES}
    assert names["zh-Hans"] == names["zh-Hant"] == names["en"], names


@pytest.mark.parametrize("locale", ["zh-Hant", "en"])
def test_every_locale_has_the_same_keys_and_placeholders_in_every_file(locale: str) -> None:
    base, other = _texts("zh-Hans"), _texts(locale)
    assert sorted(set(base) - set(other)) == [], f"missing in {locale}"
    assert sorted(set(other) - set(base)) == [], f"only in {locale}"
    wrong = {
        k: (content.placeholders(base[k]), content.placeholders(other[k]))
        for k in base
        if content.placeholders(base[k]) != content.placeholders(other[k])
    }
    assert not wrong, f"placeholders differ in {locale}: {wrong}"


@pytest.mark.parametrize("locale", LOCALES)
def test_files_are_plain_mappings_of_text(locale: str) -> None:
    for path in _files(locale).values():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(data, dict) and data, path


def _needed_keys() -> set[str]:
    b = book()
    keys = {f"buttons.{o}" for o in b.option_ids()}
    for f in b.flows.values():
        for n in f.nodes.values():
            keys |= set(n.say)
    routes = content.flows()["complaint_routes"]
    for lender in routes["lender"]:
        for what in routes["what"]:
            keys |= {f"complaint.channel.{c}" for c in complaint_channels(lender, what)}
    keys |= {f"evidence.items.{i}" for i in CHECKLIST} | {f"evidence.kinds.{k}" for k in EVIDENCE_KINDS}
    keys |= {f"sms.category.{c}" for c in CATEGORIES} | {f"sms.risk.{r}" for r in ("low", "medium", "high")}
    keys |= {f"answers.amount.{r}" for r in ("not_a_number", "negative", "zero", "too_large")}
    keys |= {f"answers.rate.{r}" for r in ("not_a_number", "out_of_range")}
    keys |= {f"answers.smalltalk.{i}" for i in ("greet", "thanks", "goodbye")}
    keys |= {c.key for c in COMMANDS}
    keys |= {
        f"plan.flag.{f}"
        for f in (
            "secured",
            "in_court",
            "rate_unknown",
            "rate_above_24",
            "rate_above_4x_lpr",
            "payment_below_interest",
            "no_payment",
        )
    }
    keys |= {"plan.mark_court", "plan.mark_secured"}
    keys |= {f"common.place_notice.{p}" for p in PLACES} | {f"crisis.local.{v}" for v in LOCAL_EMERGENCY.values()}
    keys |= {f"crisis.{n}_elsewhere" for n in ("start", "danger")}
    keys |= {f"evidence.describe.{v}" for v in b.node("gather_evidence", "add").choices.values()}
    for path in CODE:
        keys |= set(_KEY_CALL.findall(path.read_text(encoding="utf-8")))
    return keys


@pytest.mark.parametrize("locale", LOCALES)
def test_every_text_the_code_and_flows_use_exists(locale: str) -> None:
    texts = _texts(locale)
    missing = sorted(k for k in _needed_keys() if k not in texts)
    assert not missing, f"{locale} lacks {missing}"


def test_the_code_looks_up_texts_by_key() -> None:
    assert len({k for path in CODE for k in _KEY_CALL.findall(path.read_text(encoding="utf-8"))}) > 20


@pytest.mark.parametrize("locale", LOCALES)
def test_texts_fit_a_message_and_labels_fit_a_button(locale: str) -> None:
    for key, text in _texts(locale).items():
        assert text.strip(), key
        assert len(text) <= MAX_TEXT_CHARS, key
        if key.startswith("buttons."):
            assert len(text) <= MAX_LABEL_CHARS, key


def _dialogue_texts(locale: str) -> dict[str, str]:
    """The texts of the dialogue's files (pack.yml and telegram.yml belong to other modules and tests)."""
    return {k: v for k, v in _texts(locale).items() if not k.startswith(("pack.", "telegram."))}


def test_traditional_texts_are_in_traditional_script() -> None:
    s2t = converter("s2t")
    wrong = {k: v for k, v in _dialogue_texts("zh-Hant").items() if k not in SCRIPT_EXEMPT and s2t.convert(v) != v}
    diffs = {
        k: "".join(a for a, b in zip(v, s2t.convert(v), strict=False) if a != b and a not in BOTH_SCRIPTS)
        for k, v in wrong.items()
    }
    diffs = {k: d for k, d in diffs.items() if d}
    assert not diffs, f"Simplified characters in zh-Hant: {diffs}"


def test_simplified_texts_are_in_simplified_script() -> None:
    t2s = converter("t2s")
    wrong = {k: v for k, v in _dialogue_texts("zh-Hans").items() if k not in SCRIPT_EXEMPT and t2s.convert(v) != v}
    diffs = {k: "".join(a for a, b in zip(v, t2s.convert(v), strict=False) if a != b) for k, v in wrong.items()}
    assert not diffs, f"Traditional characters in zh-Hans: {diffs}"


def test_english_texts_are_english() -> None:
    for key, text in _dialogue_texts("en").items():
        if key in SCRIPT_EXEMPT:
            continue
        letters = re.findall(r"[A-Za-z]", text)
        cjk = re.findall(r"[\u4e00-\u9fff]", text)
        assert len(letters) >= 2 * len(cjk), f"{key} is not mostly English: {text[:80]!r}"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_hotline_and_site_is_listed_in_the_legal_sources(locale: str) -> None:
    for key, text in _texts(locale).items():  # every file, pack.yml and telegram.yml too
        phones = set(PHONE.findall(text)) - HOTLINES
        assert not phones, f"{locale} {key}: numbers not in docs/legal-sources.md: {phones}"
        sites = {s for s in SITE.findall(text.lower())} - SITES
        assert not sites, f"{locale} {key}: sites not in docs/legal-sources.md: {sites}"


def test_the_crisis_reply_names_the_national_line_the_hope_line_and_emergency_numbers() -> None:
    for locale in LOCALES:
        text = content.t(locale, "crisis.start")
        assert all(n in text for n in ("12356", "400-161-9995", "110", "120")), locale


def test_the_public_security_law_is_cited_with_its_2025_numbering() -> None:
    for locale, name, cite in (
        ("zh-Hans", "治安管理处罚法", "2025年修订版第50条（2026-01-01起施行）"),
        ("zh-Hant", "治安管理處罰法", "2025年修訂版第50條（2026-01-01起施行）"),
        (
            "en",
            "Public Security Administration Punishments Law",
            "2025 revision, art. 50, in force from 2026-01-01",
        ),
    ):
        for key, text in _dialogue_texts(locale).items():
            if name in text:
                assert cite in text or cite.replace(", in force", " (in force").rstrip(")") in text, (
                    locale,
                    key,
                )


def test_hedged_facts_stay_hedged() -> None:
    """Items the fact sheet marks likely/unverified are never stated flatly."""
    zh = _dialogue_texts("zh-Hans")
    assert "通常" in zh["plan.flag.rate_above_24"] and "通常" in zh["plan.caps"]  # 24 % for licensed lenders
    assert "没有找到" in zh["false_threat.children"]  # 政审: absence of evidence only
    assert "没有找到原文" in zh["rights.time"]  # the 2018 NIFA window is unverified
    assert "8:00至21:00" not in zh["rights.start"]
    en = _dialogue_texts("en")
    assert "commonly" in en["plan.flag.rate_above_24"] and "found no rule" in en["false_threat.children"]


SCOPE = {"zh-Hans": "中国大陆", "zh-Hant": "中國大陸", "en": "mainland China"}


@pytest.mark.parametrize("locale", LOCALES)
def test_the_welcome_and_help_say_the_guidance_follows_mainland_rules(locale: str) -> None:
    for key in ("common.welcome", "common.help"):
        assert SCOPE[locale] in _texts(locale)[key], (locale, key)


@pytest.mark.parametrize("locale", LOCALES)
def test_place_notices_give_a_number_that_works_there_and_keep_the_sms_assessment(locale: str) -> None:
    texts = _texts(locale)
    numbers = {"hk": ["999"], "tw": ["110", "165"], "mo": [], "abroad": []}
    for place in PLACES:
        notice = texts[f"common.place_notice.{place}"]
        assert SCOPE[locale] in notice, (locale, place)
        assert all(n in notice for n in numbers[place]), (locale, place)
        mainland_only = {"12356", "12378", "12348", "400-161-9995"}
        assert not any(n in notice for n in mainland_only), (locale, place)
    assert "999" in texts["crisis.local.hk"] and "165" in texts["crisis.local.tw"]
    assert not set(PHONE.findall(texts["crisis.local.other"])), "no number is known for other places"


@pytest.mark.parametrize("locale", LOCALES)
def test_danger_and_self_harm_get_different_replies(locale: str) -> None:
    texts = _texts(locale)
    danger, start = texts["crisis.danger"], texts["crisis.start"]
    assert danger.splitlines()[1].count("110") == 1  # the first step of the danger reply is calling 110
    assert "12356" not in danger and "12356" in start
    for key in ("crisis.start", "crisis.talk", "crisis.safe", "stay_calm.start", "plan.shortfall"):
        assert "免费" not in texts[key] and "免費" not in texts[key] and "free" not in texts[key].lower(), key


_ZH_ARTICLE = re.compile(r"第(\d+(?:\s*[、，,—–至和]\s*\d+)*)\s*[条條](之一)?")
_EN_ARTICLE = re.compile(r"(?i)\barts?\.\s*(\d+(?:-1)?(?:\(\d+\))?(?:\s*(?:,|and|–)\s*\d+(?:-1)?(?:\(\d+\))?)*)")


def _expand(numbers: str, suffix: str = "") -> set[str]:
    """Expand "25、28、29", "1032—1034", "193 and 175-1" into article numbers."""
    out: set[str] = set()
    for part in re.split(r"\s*(?:[、，,和]|and)\s*", re.sub(r"\(\d+\)", "", numbers)):
        ends = re.split(r"\s*[—–至]\s*", part)
        if len(ends) == 2 and all(e.isdigit() for e in ends):
            out |= {str(i) for i in range(int(ends[0]), int(ends[1]) + 1)}
        elif part:
            out.add(part + suffix if part.isdigit() else part)
    return out


def _articles(locale: str, text: str) -> set[str]:
    """Article numbers cited in a text ("第293条之一" and "art. 293-1" are both "293-1")."""
    if locale == "en":
        return {a for m in _EN_ARTICLE.findall(text) for a in _expand(m)}
    return {a for nums, one in _ZH_ARTICLE.findall(text) for a in _expand(nums, "-1" if one else "")}


def test_every_article_the_texts_cite_is_in_the_legal_sources() -> None:
    listed = _articles("en", SOURCES)
    for locale in LOCALES:
        for key, text in _dialogue_texts(locale).items():
            missing = _articles(locale, text) - listed
            assert not missing, f"{locale} {key}: articles {sorted(missing)} not in docs/legal-sources.md"


@pytest.mark.parametrize("locale", ["zh-Hant", "en"])
def test_every_locale_gives_the_same_numbers_and_articles_per_text(locale: str) -> None:
    base, other = _dialogue_texts("zh-Hans"), _dialogue_texts(locale)
    for key, text in base.items():
        assert set(PHONE.findall(text)) == set(PHONE.findall(other[key])), (locale, key)
        assert _articles("zh-Hans", text) == _articles(locale, other[key]), (locale, key)


# Texts that state a fact docs/legal-sources.md marks `likely` (or report only an absence of evidence), and the
# words that hedge it in each locale; every listed text must carry one of its locale's markers.
HEDGES = {
    "zh-Hans": ("一般", "通常", "可能", "据", "按我们的理解", "没有找到"),
    "zh-Hant": ("一般", "通常", "可能", "據", "按我們的理解", "沒有找到"),
    "en": ("generally", "usually", "commonly", "may", "reportedly", "as we read it", "found no"),
}
HEDGED = (
    "plan.flag.rate_above_24",  # 24 % reference for licensed lenders
    "plan.caps",
    "false_threat.jail",  # police do not collect debts
    "rights.fake",
    "false_threat.lawsuit",  # a lawyer's letter has no compulsory force
    "false_threat.summons",  # the same, and the 12348 lawyer look-up
    "false_threat.contacts",  # the exact list of data a lending app may require
    "false_threat.children",  # 政审: absence of evidence only
    "rights.time",  # the 2018 NIFA window is unverified
    "complaint.channel.local",  # who supervises small-loan companies
    "complaint.channel.credit_dispute",  # the scope of 12363
)


@pytest.mark.parametrize("locale", LOCALES)
def test_likely_facts_are_hedged_in_every_locale(locale: str) -> None:
    texts = _dialogue_texts(locale)
    bare = [key for key in HEDGED if not any(m in texts[key].lower() for m in HEDGES[locale])]
    assert not bare, f"{locale}: not hedged: {bare}"
