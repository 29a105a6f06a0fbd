"""SMS risk assessment: which sentence crosses which line, why, under which rule, and what to do next.

Light on purpose (no Rasa, no TensorFlow): regex pattern data under `patterns/`, compiled once on first use.
Must not import the dialogue or a channel (tests/test_architecture.py).
"""

from bot.assess.engine import assess, detect_locale, resolve_locale
from bot.assess.model import CATEGORIES, LOCALES, RISKS, Advice, Assessment, Finding, risk_for
from bot.assess.rules import get_rules

__all__ = [
    "CATEGORIES",
    "LOCALES",
    "RISKS",
    "Advice",
    "Assessment",
    "Finding",
    "assess",
    "detect_locale",
    "get_rules",
    "resolve_locale",
    "risk_for",
]
