"""Computed parts of flow steps (named by `hook:` and `after:` in responses/flows.yml)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot.dialogue import content
from bot.dialogue.check import run_assessment
from bot.dialogue.flows import Node, book
from bot.dialogue.place import crisis_local
from bot.dialogue.render import assessment_meta, money, rate_text, render_evidence_log, render_plan
from bot.dialogue.turn import Turn
from bot.dialogue.types import Attachment
from bot.plan import Debt, Plan, build_plan

CHECKLIST = ("sms", "screen", "calls", "calllog", "contacts", "visit", "log")
MAX_DEBTS = 10
PLAN = "repayment_plan"
COMPLAINT = "report_complaint"
EVIDENCE = "gather_evidence"
DRAFT_FIELDS = ("creditor", "kind", "amount", "rate", "court", "secured")


@dataclass
class HookOut:
    """What a hook adds to a step: text after the step's own, placeholder values, buttons, files, redirect."""

    texts: list[str] = field(default_factory=list)
    values: dict[str, object] = field(default_factory=dict)
    options: list[str] | None = None
    attachments: list[Attachment] = field(default_factory=list)
    goto: str | None = None


Hook = Callable[[Turn, Node], HookOut]
After = Callable[[Turn, Node, str], str]


# -- evidence -------------------------------------------------------------------------------------------


def checklist(turn: Turn, node: Node) -> HookOut:
    """Show the evidence checklist with what the user has already captured, and the log's size."""
    lines = [
        turn.t("evidence.tick_done" if item in turn.state.checklist else "evidence.tick_open")
        + turn.t(f"evidence.items.{item}")
        for item in CHECKLIST
    ]
    count = len(turn.store.list_evidence(turn.user_id))
    return HookOut(texts=["\n".join(lines), turn.t("evidence.log_count", count=count)])


def describe_prompt(turn: Turn, node: Node) -> HookOut:
    """Ask the user to describe the incident of the kind they chose."""
    kind = turn.state.flow_data(EVIDENCE).get("kind", "note")
    return HookOut(texts=[turn.t(f"evidence.describe.{kind}")])


def evidence_view(turn: Turn, node: Node) -> HookOut:
    """Show the evidence log and offer the complaint pack and the export."""
    items = turn.store.list_evidence(turn.user_id)
    if not items:
        return HookOut(texts=[turn.t("evidence.empty")], options=["ev:add", "ev:list", "menu"])
    return HookOut(
        texts=[render_evidence_log(turn.locale, items), turn.t("evidence.log_offer")],
        options=["ev:pack", "ev:export", "ev:add", "ev:list", "menu"],
    )


def evidence_add(turn: Turn, node: Node, value: str) -> str:
    """Log the described incident (an SMS is assessed first so the log records its risk)."""
    data = turn.state.flow_data(EVIDENCE)
    kind = data.pop("kind", "note")
    meta: dict[str, Any] = {}
    if kind == "sms":
        assessment, _ = run_assessment(
            value, turn.incoming.received_at, turn.cfg.assess.timezone, turn.locale
        )
        meta = assessment_meta(assessment)
    turn.store.add_evidence(turn.user_id, kind, value, meta=meta, at=turn.incoming.received_at)
    turn.values.update(
        count=len(turn.store.list_evidence(turn.user_id)), kind=turn.t(f"evidence.kinds.{kind}")
    )
    return "saved"


# -- complaints -----------------------------------------------------------------------------------------


def complaint_channels(lender: str, what: str) -> list[str]:
    """Return the channels for a lender type and what happened, in the order to use them."""
    routes = content.flows()["complaint_routes"]
    out: list[str] = []
    for name in routes["what"].get(what, ["lender"]):
        out.extend(routes["lender"].get(lender, []) if name == "lender" else [name])
    out.extend(routes["always"])
    return list(dict.fromkeys(out))


def complaint_routes(turn: Turn, node: Node) -> HookOut:
    """Show where to complain, in order, for the lender type and what happened."""
    data = turn.state.flow_data(COMPLAINT)
    lender, what = data.get("lender"), data.get("what")
    if not lender:
        return HookOut(goto="lender")
    if not what:
        return HookOut(goto="what")
    steps = [
        turn.t("complaint.step", no=no, text=turn.t(f"complaint.channel.{name}"))
        for no, name in enumerate(complaint_channels(lender, what), start=1)
    ]
    head = turn.t(
        "complaint.result_head",
        lender=turn.t(f"buttons.rc:lender:{lender}"),
        what=turn.t(f"buttons.rc:what:{what}"),
    )
    return HookOut(texts=[head, "\n\n".join(steps), turn.t("complaint.result_tail")])


# -- repayment plan -------------------------------------------------------------------------------------


def _debts(turn: Turn) -> list[dict[str, Any]]:
    """Return the debts collected so far (stored as JSON-safe dicts)."""
    debts = turn.state.flow_data(PLAN).setdefault("debts", [])
    return debts if isinstance(debts, list) else []


def _kind_labels(turn: Turn) -> dict[str, str]:
    """Map plan debt kinds to their button labels."""
    node = book().node(PLAN, "kind")
    return {value: turn.t(f"buttons.{oid}") for oid, value in node.choices.items()}


def _plan(turn: Turn) -> Plan | None:
    """Build the plan from the collected answers, or None if something is missing."""
    data = turn.state.flow_data(PLAN)
    debts = _debts(turn)
    if not debts or data.get("income") is None or data.get("costs") is None:
        return None
    return build_plan(
        [
            Debt(
                d["creditor"],
                Decimal(d["amount"]),
                Decimal(d["rate"]) if d.get("rate") is not None else None,
                d.get("kind", "other"),
                in_court=d.get("court") == "yes",
                secured=d.get("secured") == "yes",
            )
            for d in debts
        ],
        Decimal(data["income"]),
        Decimal(data["costs"]),
    )


def plan_start(turn: Turn, node: Node) -> HookOut:
    """Open the plan: continue with saved debts or start fresh."""
    debts = _debts(turn)
    if debts:
        return HookOut(
            texts=[turn.t("plan.resume", count=len(debts))], options=["rp:continue", "rp:restart", "menu"]
        )
    turn.prefix.append(turn.t("plan.start"))  # people who type rather than press go straight to the question
    return HookOut(goto="creditor")


def plan_ask_kind(turn: Turn, node: Node) -> HookOut:
    """Ask what kind of lender this creditor is."""
    creditor = turn.state.flow_data(PLAN).get("creditor", "")
    return HookOut(texts=[turn.t("plan.ask_kind", creditor=creditor)], options=["menu"])


def plan_ask_amount(turn: Turn, node: Node) -> HookOut:
    """Ask how much is still owed to this creditor."""
    creditor = turn.state.flow_data(PLAN).get("creditor", "")
    return HookOut(texts=[turn.t("plan.ask_amount", creditor=creditor)])


def plan_ask_court(turn: Turn, node: Node) -> HookOut:
    """Ask whether this debt is already in court or enforcement (such debts go first)."""
    creditor = turn.state.flow_data(PLAN).get("creditor", "")
    return HookOut(texts=[turn.t("plan.ask_court", creditor=creditor)], options=["menu"])


def plan_ask_secured(turn: Turn, node: Node) -> HookOut:
    """Ask whether this debt is secured (a mortgage, a car pledge; such debts go first)."""
    creditor = turn.state.flow_data(PLAN).get("creditor", "")
    return HookOut(texts=[turn.t("plan.ask_secured", creditor=creditor)], options=["menu"])


def plan_add_debt(turn: Turn, node: Node, value: str) -> str:
    """Move the answers about one debt into the list of debts."""
    data = turn.state.flow_data(PLAN)
    rate = data.get("rate")
    debt = {
        "creditor": data.get("creditor") or turn.t("plan.unnamed"),
        "kind": data.get("kind", "other"),
        "amount": data.get("amount"),
        "rate": None if rate in (None, "unknown") else rate,
        "court": data.get("court", "unknown"),
        "secured": data.get("secured", "unknown"),
    }
    for name in DRAFT_FIELDS:
        data.pop(name, None)
    if debt["amount"] is None:
        return "creditor"
    _debts(turn).append(debt)
    return "more"


def plan_list(turn: Turn, node: Node) -> HookOut:
    """List the debts so far and ask whether there is another."""
    kinds = _kind_labels(turn)
    lines = [
        turn.t(
            "plan.debt_line",
            no=no,
            creditor=d["creditor"],
            kind=kinds.get(d.get("kind", "other"), ""),
            amount=money(turn.locale, Decimal(d["amount"])),
            rate=rate_text(turn.locale, Decimal(d["rate"]) if d.get("rate") is not None else None),
        )
        + "".join(turn.t(f"plan.mark_{m}") for m in ("court", "secured") if d.get(m) == "yes")
        for no, d in enumerate(_debts(turn), start=1)
    ]
    question = "plan.ask_more_full" if len(lines) >= MAX_DEBTS else "plan.ask_more"
    return HookOut(texts=[turn.t("plan.debts_head"), "\n".join(lines), turn.t(question)])


def plan_more(turn: Turn, node: Node, value: str) -> str:
    """Go to the next debt, or on to income once the user is done (or the list is full)."""
    debts = _debts(turn)
    if not debts:
        return "creditor"
    if value == "more" and len(debts) < MAX_DEBTS:
        return "creditor"
    return "income"


def plan_result(turn: Turn, node: Node) -> HookOut:
    """Compute and show the plan, with the formula, and warn about paid 'debt relief' agents."""
    if not _debts(turn):
        turn.prefix.append(turn.t("plan.no_debts"))
        return HookOut(goto="creditor")
    plan = _plan(turn)
    if plan is None:
        return HookOut(goto="income")
    text = render_plan(turn.locale, plan, _kind_labels(turn))
    return HookOut(texts=[text, turn.t("plan.next_steps"), turn.t("plan.agents_short")])


def plan_script(turn: Turn, node: Node) -> HookOut:
    """Give a negotiation script filled in with the first debt of the plan."""
    plan = _plan(turn)
    if plan is None or not plan.items:
        return HookOut(goto="start")
    first = plan.items[0]
    if first.monthly <= 0:
        text = turn.t("plan.script_shortfall", creditor=first.debt.creditor)
    else:
        months = first.months if first.months is not None else "__"
        text = turn.t(
            "plan.script",
            creditor=first.debt.creditor,
            monthly=money(turn.locale, first.monthly),
            months=months,
        )
    return HookOut(texts=[text])


def plan_restart(turn: Turn) -> None:
    """Forget the debts and figures collected so far."""
    turn.state.data.pop(PLAN, None)


# -- crisis ---------------------------------------------------------------------------------------------


def crisis_text(turn: Turn, node: Node) -> HookOut:
    """Give the self-harm or the danger reply, with the local emergency number when the user is elsewhere."""
    local = crisis_local(turn)
    text = turn.t(f"crisis.{node.name}") if local is None else turn.t(f"crisis.{node.name}_elsewhere", local=local)
    return HookOut(texts=[text], options=crisis_options(turn, node).options)


def crisis_options(turn: Turn, node: Node) -> HookOut:
    """Offer to keep talking or say they are safe, and to go back to what we were doing."""
    first = ["crisis:talk", "crisis:safe"] if node.name in ("start", "danger") else ["crisis:safe", "flow:stay_calm"]
    local = crisis_local(turn)
    return HookOut(texts=[local] if local else [], options=first + (["resume"] if turn.state.paused else []))


def crisis_safe(turn: Turn, node: Node) -> HookOut:
    """Offer to continue where we were, or the calmer next steps."""
    resume = ["resume"] if turn.state.paused else []
    local = crisis_local(turn)
    return HookOut(texts=[local] if local else [], options=[*resume, "flow:stay_calm", "menu"])


HOOKS: dict[str, Hook] = {
    "checklist": checklist,
    "describe_prompt": describe_prompt,
    "evidence_view": evidence_view,
    "complaint_routes": complaint_routes,
    "plan_start": plan_start,
    "plan_ask_kind": plan_ask_kind,
    "plan_ask_amount": plan_ask_amount,
    "plan_ask_court": plan_ask_court,
    "plan_ask_secured": plan_ask_secured,
    "plan_list": plan_list,
    "plan_result": plan_result,
    "plan_script": plan_script,
    "crisis_text": crisis_text,
    "crisis_options": crisis_options,
    "crisis_safe": crisis_safe,
}
AFTER: dict[str, After] = {
    "evidence_add": evidence_add,
    "plan_add_debt": plan_add_debt,
    "plan_more": plan_more,
}
