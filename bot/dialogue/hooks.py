"""Computed parts of flow steps (named by `hook:` and `after:` in responses/flows.yml)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from decimal import Decimal
from typing import Any

from bot.dialogue import content
from bot.dialogue.check import local_time, run_assessment
from bot.dialogue.flows import Node, book
from bot.dialogue.place import crisis_local
from bot.dialogue.render import assessment_meta, money, rate_text, render_evidence_log, render_plan
from bot.dialogue.turn import Turn
from bot.dialogue.types import Attachment
from bot.evidence.parse import display_number, find_time, parse_incident
from bot.plan import Debt, Plan, build_plan
from bot.store import MAX_EVIDENCE_CHARS

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
    count = turn.store.count_evidence(turn.user_id)
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
        options=["ev:pdf", "ev:pack", "ev:export", "ev:quick", "ev:add", "ev:list", "menu"],
    )


MISSED_WORDS = ("未接", "没接", "沒接", "没有接", "missed", "unanswered", "didn't answer")
PENDING = "pending"
READ_BACK = "read_back"


def _tz(turn: Turn) -> tzinfo:
    """The time zone incidents are read in (config assess.timezone, China time by default)."""
    return local_time(turn.incoming.received_at, turn.cfg.assess.timezone).tzinfo or timezone.utc


def _incident(turn: Turn, kind: str | None, value: str) -> str:
    """Read an incident's time, numbers and count; log it, or hold it and ask when it happened."""
    data = turn.state.flow_data(EVIDENCE)
    incident = parse_incident(value, turn.incoming.received_at, _tz(turn))
    chosen = kind if kind and kind != "note" else (incident.kind or kind or "note")
    assessment, _ = run_assessment(value, turn.incoming.received_at, turn.cfg.assess.timezone, turn.locale)
    meta: dict[str, Any] = assessment_meta(assessment)
    if incident.numbers:
        meta["numbers"] = incident.numbers
    if incident.count != 1:
        meta["count"] = incident.count
    if chosen == "call" and any(w in value[:400].lower() for w in MISSED_WORDS):
        meta["missed"] = True
    pending = {"kind": chosen, "text": value[:MAX_EVIDENCE_CHARS], "meta": meta}
    if incident.when is None:
        data[PENDING] = pending
        if incident.future:
            turn.prefix.append(turn.t("evidence.when_future"))
        return "when"
    return _save(turn, pending, incident.when.at, incident.when.precision, incident.when.words)


def _save(turn: Turn, pending: dict[str, Any], at: datetime, precision: str, words: str) -> str:
    """Log a held incident at the time given and say what was read."""
    data = turn.state.flow_data(EVIDENCE)
    meta = dict(pending.get("meta") or {})
    meta["precision"] = precision
    if words:
        meta["time_words"] = words
    kind = str(pending.get("kind") or "note")
    turn.store.add_evidence(turn.user_id, kind, str(pending.get("text", "")), meta=meta, at=at)
    data.pop(PENDING, None)
    details = [turn.t("evidence.read_time", time=at.astimezone(_tz(turn)).strftime("%Y-%m-%d %H:%M"))]
    if meta.get("numbers"):
        details.append(turn.t("evidence.read_numbers", numbers=", ".join(display_number(n) for n in meta["numbers"])))
    if meta.get("count"):
        details.append(turn.t("evidence.read_count", count=meta["count"]))
    data[READ_BACK] = " · ".join(details)
    turn.values.update(count=turn.store.count_evidence(turn.user_id), kind=turn.t(f"evidence.kinds.{kind}"))
    return "saved"


def evidence_add(turn: Turn, node: Node, value: str) -> str:
    """Log the described incident of the chosen kind (its text is assessed so the log records its risk)."""
    kind = turn.state.flow_data(EVIDENCE).pop("kind", "note")
    return _incident(turn, kind, value)


def evidence_quick(turn: Turn, node: Node, value: str) -> str:
    """Log a one-line incident, its kind read from its words."""
    return _incident(turn, None, value)


def evidence_when(turn: Turn, node: Node, value: str) -> str:
    """Take the time of the held incident; a time that cannot be read is asked again with an example."""
    pending = turn.state.flow_data(EVIDENCE).get(PENDING)
    if not isinstance(pending, dict):
        return "add"
    when, future = find_time(value, turn.incoming.received_at, _tz(turn))
    if when is None:
        turn.prefix.append(turn.t("evidence.when_future" if future else "evidence.when_again"))
        return "when"
    return _save(turn, pending, when.at, when.precision, when.words)


def evidence_when_now(turn: Turn) -> bool:
    """Log the held incident at the time of this message; False when nothing is held."""
    pending = turn.state.flow_data(EVIDENCE).get(PENDING)
    if not isinstance(pending, dict):
        return False
    _save(turn, pending, turn.incoming.received_at, "minute", "")
    return True


def evidence_saved(turn: Turn, node: Node) -> HookOut:
    """Say what was read from the incident (time, numbers, count)."""
    read = turn.state.flow_data(EVIDENCE).pop(READ_BACK, None)
    return HookOut(texts=[turn.t("evidence.read_back", details=read)] if read else [])


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
        return HookOut(texts=[turn.t("plan.resume", count=len(debts))], options=["rp:continue", "rp:restart", "menu"])
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
    "evidence_saved": evidence_saved,
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
    "evidence_quick": evidence_quick,
    "evidence_when": evidence_when,
    "plan_add_debt": plan_add_debt,
    "plan_more": plan_more,
}
