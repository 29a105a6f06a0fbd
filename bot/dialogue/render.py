"""Turn results (an SMS assessment, a repayment plan, the evidence log) into text in the user's locale."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from bot.dialogue.content import t
from bot.plan import Plan, monthly_payment
from bot.store import EvidenceItem

CHINA_TIME = timezone(timedelta(hours=8))
"""Mainland China, Hong Kong and Taiwan keep UTC+8 all year; times in the log are shown in it."""
MAX_FINDINGS_SHOWN = 8
MAX_QUOTE_CHARS = 60
MAX_EXCERPT_CHARS = 50
MAX_LOG_SHOWN = 20
EXAMPLE_MONTHS = 36
KINDS = ("sms", "call", "visit", "contact", "post", "note", "screenshot")


def money(locale: str, amount: Decimal) -> str:
    """Format yuan with thousands separators and cents in the locale's pattern ("1,234.50元", "¥1,234.50")."""
    return t(locale, "common.money", amount=f"{amount:,.2f}")


def rate_text(locale: str, rate: Decimal | None) -> str:
    """Format an annual rate, or say it is unknown."""
    if rate is None:
        return t(locale, "plan.rate_unknown")
    return t(locale, "plan.rate", rate=f"{rate.normalize():f}")


def _one_line(text: str, limit: int) -> str:
    """Collapse whitespace and cut to limit characters with an ellipsis."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def finding_span(finding: Any) -> str:
    """Return the exact offending text of a finding (Finding.text, or .span = (start, end, text))."""
    span = getattr(finding, "span", None)
    if isinstance(span, tuple | list) and len(span) == 3:
        return str(span[2])
    if isinstance(span, dict):
        return str(span.get("text", ""))
    return str(getattr(finding, "text", ""))


def _basis_list(finding: Any) -> list[str]:
    """Return a finding's legal basis as a list of strings."""
    basis = getattr(finding, "legal_basis", None)
    if not basis:
        return []
    if isinstance(basis, str):
        return [basis]
    return [str(b) for b in basis if b]


def _advice_text(item: Any) -> str:
    """Return the text of one advice entry (an Advice with .text, or a plain string)."""
    return str(getattr(item, "text", item))


def assessment_meta(assessment: Any) -> dict[str, Any]:
    """Return the evidence-log meta of an assessment: risk, categories and the rules named."""
    basis = list(dict.fromkeys(b for f in assessment.findings for b in _basis_list(f)))
    return {"risk": assessment.risk, "categories": list(assessment.categories), "legal_basis": basis}


def render_assessment(locale: str, assessment: Any, truncated: bool = False) -> str:
    """Describe an assessment: the risk, each offending phrase quoted with why and the rule, what to do."""
    parts = [t(locale, f"sms.risk.{assessment.risk}")]
    if getattr(assessment, "verify", False):  # a court notice with no scam sign: may be real, verify it
        parts.append(t(locale, "sms.court_verify"))
    if truncated:
        parts.append(t(locale, "sms.truncated"))
    findings = list(assessment.findings)
    if findings:
        lines = [t(locale, "sms.found")]
        for f in findings[:MAX_FINDINGS_SHOWN]:
            basis = _basis_list(f)
            line = t(
                locale,
                "sms.finding",
                quote=_one_line(finding_span(f), MAX_QUOTE_CHARS),
                category=t(locale, f"sms.category.{f.category}"),
                why=str(getattr(f, "explanation", "")).strip(),
            )
            if basis:
                line += t(locale, "sms.basis", basis="; ".join(basis))
            lines.append(line)
        if len(findings) > MAX_FINDINGS_SHOWN:
            lines.append(t(locale, "sms.more_findings", count=len(findings) - MAX_FINDINGS_SHOWN))
        parts.append("\n".join(lines))
    else:
        parts.append(t(locale, "sms.nothing_found"))
    if getattr(assessment, "off_hours", False):
        parts.append(t(locale, "sms.off_hours"))
    advice = [_advice_text(a) for a in getattr(assessment, "advice", [])]
    if advice:
        parts.append(t(locale, "sms.advice") + "\n" + "\n".join(f"• {a}" for a in advice))
    return "\n\n".join(parts)


def render_evidence_log(locale: str, items: Sequence[EvidenceItem]) -> str:
    """List the logged items, newest last: number, China time, kind and a short excerpt."""
    shown = list(items)[-MAX_LOG_SHOWN:]
    first = len(items) - len(shown) + 1
    lines = [t(locale, "evidence.log_head", count=len(items))]
    if len(items) > len(shown):
        lines.append(t(locale, "evidence.log_older", count=len(items) - len(shown)))
    for no, item in enumerate(shown, start=first):
        risk = item.meta.get("risk") if isinstance(item.meta, dict) else None
        lines.append(
            t(
                locale,
                "evidence.log_line",
                no=no,
                time=item.at.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M"),
                kind=t(locale, f"evidence.kinds.{item.kind}") if item.kind in KINDS else item.kind,
                excerpt=_one_line(item.text, MAX_EXCERPT_CHARS),
            )
            + (t(locale, f"evidence.log_risk.{risk}") if risk in ("low", "medium", "high") else "")
        )
    return "\n".join(lines)


def render_plan(locale: str, plan: Plan, kinds: dict[str, str]) -> str:
    """Describe a plan: money in and out, then each debt in priority order with its monthly payment."""
    parts = [
        t(
            locale,
            "plan.summary",
            income=money(locale, plan.monthly_income),
            costs=money(locale, plan.essential_costs),
            buffer=money(locale, plan.buffer),
            surplus=money(locale, max(plan.surplus, Decimal(0))),
            total=money(locale, plan.total_debt),
        )
    ]
    if "shortfall" in plan.flags:
        parts.append(t(locale, "plan.shortfall"))
    elif "minimums_not_covered" in plan.flags:
        parts.append(t(locale, "plan.minimums_not_covered"))
    lines = [t(locale, "plan.order")]
    for item in plan.items:
        d = item.debt
        months = (
            t(locale, "plan.months", months=item.months) if item.months is not None else t(locale, "plan.months_none")
        )
        lines.append(
            t(
                locale,
                "plan.item",
                no=item.priority,
                creditor=d.creditor,
                kind=kinds.get(d.kind, d.kind),
                amount=money(locale, d.amount),
                rate=rate_text(locale, d.annual_rate),
                monthly=money(locale, item.monthly),
                months=months,
            )
        )
        lines.extend(f"   {t(locale, f'plan.flag.{flag}')}" for flag in item.flags)
    parts.append("\n".join(lines))
    parts.append(formula_example(locale, plan))
    return "\n\n".join(parts)


def formula_example(locale: str, plan: Plan) -> str:
    """Explain the equal-instalment formula with the user's largest debt over 36 months."""
    largest = max(plan.items, key=lambda i: i.debt.amount).debt
    rate = largest.annual_rate or Decimal(0)
    payment = monthly_payment(largest.amount, rate, EXAMPLE_MONTHS)
    return t(
        locale,
        "plan.formula",
        creditor=largest.creditor,
        amount=money(locale, largest.amount),
        months=EXAMPLE_MONTHS,
        rate=f"{rate.normalize():f}",
        payment=money(locale, payment),
    )


def local_time(at: datetime) -> str:
    """Format an instant in China time."""
    return at.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")
