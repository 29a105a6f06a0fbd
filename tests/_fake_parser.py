"""A keyword stand-in for the Rasa parser: for unit tests of dialogue mechanics and the benchmark only.

Conversation tests use the real model (the `parser` fixture in tests/conftest.py).
"""

from __future__ import annotations

from bot.nlu_types import Parse
from bot.textnorm import to_simplified

KEYWORDS: list[tuple[str, tuple[str, ...]]] = [
    ("crisis", ("不想活", "自杀", "kill myself")),
    ("greet", ("你好", "hello", "hi ")),
    ("thanks", ("谢谢", "thank")),
    ("goodbye", ("再见", "bye")),
    ("help", ("帮助", "你能做什么", "what can you do")),
    ("stay_calm", ("害怕", "好怕", "焦虑", "scared", "panic", "afraid")),
    ("false_threat", ("坐牢", "起诉", "是真的吗", "jail", "sue me", "is it true")),
    ("gather_evidence", ("证据", "evidence", "录音")),
    ("report_complaint", ("投诉", "举报", "complain", "report")),
    ("repayment_plan", ("还款计划", "分期", "还不起", "repayment plan", "can't pay")),
    ("contacts_harassed", ("家人", "通讯录", "family", "contacts")),
    ("know_rights", ("权利", "rights")),
    ("assess_sms", ("短信", "sms", "message")),
]


class FakeParser:
    """Classify by keywords; `ready` can be switched off to test the start-up path."""

    def __init__(self, ready: bool = True) -> None:
        self._ready = ready
        self.calls = 0

    @property
    def ready(self) -> bool:
        return self._ready

    async def parse(self, text: str, screened: bool = False) -> Parse:
        self.calls += 1
        norm = to_simplified(text).lower()
        for intent, words in KEYWORDS:
            if any(w in norm for w in words):
                return Parse(intent, 0.95, (), ((intent, 0.95),), norm)
        return Parse("out_of_scope", 0.2, (), (("out_of_scope", 0.2),), norm)
