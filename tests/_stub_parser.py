"""A tiny keyword parser standing in for the Rasa model where a test does not need the real one."""

from __future__ import annotations

from bot.nlu_types import Parse

KEYWORDS = (
    ("crisis", ("不想活", "自杀", "kill myself")),
    ("assess_sms", ("逾期", "催收", "起诉", "法院", "overdue")),
    ("gather_evidence", ("证据", "录音", "evidence")),
    ("report_complaint", ("投诉", "举报", "complain")),
    ("repayment_plan", ("还款计划", "协商", "plan")),
    ("greet", ("你好", "hello", "hi")),
)


class StubParser:
    """Classifies by keywords with confidence 0.95 (else out_of_scope at 0.3); always ready."""

    ready = True

    async def parse(self, text: str) -> Parse:
        """Return the first intent whose keyword occurs in the text."""
        return self.parse_sync(text)

    def parse_sync(self, text: str) -> Parse:
        """Synchronous variant (same answer)."""
        low = text.lower()
        for intent, words in KEYWORDS:
            if any(w in low for w in words):
                return Parse(intent, 0.95, text=text, ranking=((intent, 0.95),))
        return Parse("out_of_scope", 0.3, text=text, ranking=(("out_of_scope", 0.3),))
