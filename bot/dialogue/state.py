"""One user's conversation state, as kept in the store between messages (JSON-safe, versioned)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from bot.config import LOCALES

STATE_VERSION = 1


@dataclass
class State:
    """Where the user is: locale, current flow and step, answers so far, one-time notes, paused flow."""

    locale: str | None = None
    locale_fixed: bool = False
    flow: str | None = None
    step: str | None = None
    topic: str | None = None
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    checklist: list[str] = field(default_factory=list)
    lawyer_note: bool = False
    pending_sms: dict[str, Any] | None = None
    paused: dict[str, str] | None = None
    retries: int = 0

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> State:
        """Read stored state, dropping anything unknown or malformed (an old or damaged row never crashes)."""
        if not isinstance(raw, dict) or raw.get("v") != STATE_VERSION:
            return cls()
        s = cls()
        locale = raw.get("locale")
        s.locale = locale if locale in LOCALES else None
        s.locale_fixed = bool(raw.get("locale_fixed")) and s.locale is not None
        for name in ("flow", "step", "topic"):
            value = raw.get(name)
            setattr(s, name, value if isinstance(value, str) else None)
        data = raw.get("data")
        s.data = {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}
        checklist = raw.get("checklist")
        s.checklist = [c for c in checklist if isinstance(c, str)] if isinstance(checklist, list) else []
        s.lawyer_note = bool(raw.get("lawyer_note"))
        pending = raw.get("pending_sms")
        s.pending_sms = pending if isinstance(pending, dict) else None
        paused = raw.get("paused")
        ok = isinstance(paused, dict) and all(isinstance(paused.get(k), str) for k in ("flow", "step"))
        s.paused = {"flow": paused["flow"], "step": paused["step"]} if ok and isinstance(paused, dict) else None
        retries = raw.get("retries")
        s.retries = retries if isinstance(retries, int) and retries >= 0 else 0
        return s

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-safe form the store keeps, for writing out at once.

        It shares the state's lists and dicts (no copy: it is written on every message, and copying a pending
        SMS with its assessment cost more than writing it); serialise it before the state changes again.
        """
        return {"v": STATE_VERSION, **{f.name: getattr(self, f.name) for f in _FIELDS}}

    def flow_data(self, flow: str) -> dict[str, Any]:
        """Return (creating) the answers collected by one flow."""
        return self.data.setdefault(flow, {})

    def leave_flow(self) -> None:
        """Stop waiting for an answer (the collected answers stay)."""
        self.flow = None
        self.step = None
        self.retries = 0


_FIELDS = fields(State)
