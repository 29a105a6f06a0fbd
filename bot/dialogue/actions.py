"""What buttons and commands do beyond "show this step": menu, files, language, delete, resume."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.dialogue.commands import COMMANDS
from bot.dialogue.engine import show
from bot.dialogue.flows import Node, book
from bot.dialogue.hooks import CHECKLIST, COMPLAINT, EVIDENCE, evidence_when_now, plan_restart
from bot.dialogue.turn import Turn

log = logging.getLogger(__name__)
DELETE_TOPIC = "delete_confirm"
START_PAYLOADS = {
    "check": "check",
    "sms": "check",
    "calm": "stay_calm",
    "threat": "false_threat",
    "evidence": "gather_evidence",
    "complain": "report_complaint",
    "plan": "repayment_plan",
    "contacts": "contacts_harassed",
    "rights": "know_rights",
}


def waiting_node(turn: Turn) -> Node | None:
    """Return the step that is waiting for an answer, if any."""
    s = turn.state
    if not s.flow or not s.step or s.flow not in book().flows:
        return None
    node = book().flows[s.flow].nodes.get(s.step)
    return node if node is not None and node.ask else None


def current_node(turn: Turn) -> Node | None:
    """Return the step the user is at (waiting or not), if any."""
    s = turn.state
    if not s.flow or not s.step or s.flow not in book().flows:
        return None
    return book().flows[s.flow].nodes.get(s.step)


def menu(turn: Turn, arg: str | None = None, key: str = "common.menu") -> None:
    """Show the menu of everything the bot can help with."""
    turn.state.leave_flow()
    turn.state.topic = "menu"
    resume = ["resume"] if turn.state.paused else []
    turn.reply("\n\n".join([*turn.prefix, turn.t(key)]), [*resume, *book().menu])
    turn.prefix.clear()


def help_text(turn: Turn) -> None:
    """Show what the bot does and the commands, from the one command table."""
    lines = [f"/{c.name} — {turn.t(c.key)}" for c in COMMANDS]
    turn.prefix.append(turn.t("common.help", commands="\n".join(lines)))
    menu(turn, key="common.menu_short")
    turn.state.topic = "help"


def resume(turn: Turn, arg: str | None = None) -> None:
    """Go back to the step we paused for a crisis or an SMS, asking its question again."""
    paused = turn.state.paused
    turn.state.paused = None
    if paused and paused["flow"] in book().flows and paused["step"] in book().flows[paused["flow"]].nodes:
        turn.prefix.append(turn.t("common.resume"))
        show(turn, book().node(paused["flow"], paused["step"]))
        return
    menu(turn)


def checklist_done(turn: Turn, arg: str | None = None) -> None:
    """Tick an item of the evidence checklist and show the list again."""
    if arg in CHECKLIST and arg not in turn.state.checklist:
        turn.state.checklist.append(arg)
    turn.prefix.append(turn.t("evidence.ticked", item=turn.t(f"evidence.items.{arg}")))
    show(turn, book().node(EVIDENCE, "list"))


def pack(turn: Turn, arg: str | None = None) -> None:
    """Send the complaint pack built from the evidence log."""
    from bot.evidence.pack import build_complaint_pack

    items = turn.store.list_evidence(turn.user_id)
    file = build_complaint_pack(items, turn.locale, now=turn.incoming.received_at)
    key = "evidence.pack_ready" if items else "evidence.pack_empty"
    turn.state.topic = EVIDENCE
    turn.reply(turn.t(key, count=len(items)), ["ev:view", "ev:add", "flow:complain", "menu"], [file])


def export(turn: Turn, arg: str | None = None) -> None:
    """Send the evidence log as a spreadsheet file."""
    from bot.evidence.pack import export_evidence_log

    items = turn.store.list_evidence(turn.user_id)
    turn.state.topic = EVIDENCE
    if not items:
        turn.reply(turn.t("evidence.empty"), ["ev:add", "ev:list", "menu"])
        return
    file = export_evidence_log(items, turn.locale, now=turn.incoming.received_at)
    turn.reply(turn.t("evidence.export_ready", count=len(items)), ["ev:pdf", "ev:pack", "ev:view", "menu"], [file])


def export_pdf(turn: Turn, arg: str | None = None) -> None:
    """Send the PDF complaint file; an empty log gets a kind word and no file, a missing font the Markdown pack."""
    from bot.evidence.pack import build_complaint_pack
    from bot.evidence.pdf import PdfFontMissing, build_pdf

    turn.state.topic = EVIDENCE
    items = turn.store.list_evidence(turn.user_id)
    if not items:
        turn.reply(turn.t("evidence.empty"), ["ev:quick", "ev:add", "ev:list", "menu"])
        return
    report = turn.store.verify_evidence(turn.user_id)
    lender = turn.state.flow_data(COMPLAINT).get("lender")
    options = ["ev:view", "ev:quick", "flow:complain", "menu"]
    try:
        file = build_pdf(items, report, turn.locale, now=turn.incoming.received_at, lender_kind=lender)
    except PdfFontMissing:
        fallback = build_complaint_pack(items, turn.locale, now=turn.incoming.received_at)
        turn.reply(turn.t("evidence.pdf_no_font"), options, [fallback])
        return
    except Exception as exc:  # the log is safe; the user gets the Markdown pack and no traceback
        log.warning("PDF export failed: %s", type(exc).__name__)
        fallback = build_complaint_pack(items, turn.locale, now=turn.incoming.received_at)
        turn.reply(turn.t("evidence.pdf_failed"), options, [fallback])
        return
    text = turn.t("evidence.pdf_ready", count=len(items))
    if not report.ok:
        text += "\n\n" + turn.t("evidence.pdf_broken", seq=report.first_bad_seq)
    turn.reply(text, options, [file])


def when_now(turn: Turn, arg: str | None = None) -> None:
    """Log the incident waiting for its time at the time of this message."""
    if evidence_when_now(turn):
        show(turn, book().node(EVIDENCE, "saved"))
    else:
        show(turn, book().node(EVIDENCE, "add"))


def save_sms(turn: Turn, arg: str | None = None) -> None:
    """Log the last assessed SMS as evidence."""
    pending = turn.state.pending_sms
    turn.state.topic = EVIDENCE
    if not pending or not isinstance(pending.get("text"), str):
        turn.reply(turn.t("sms.nothing_to_save"), ["flow:check", "menu"])
        return
    try:
        at = datetime.fromisoformat(str(pending.get("at")))
    except ValueError:
        at = turn.incoming.received_at
    meta = pending.get("meta") if isinstance(pending.get("meta"), dict) else {}
    turn.store.add_evidence(turn.user_id, "sms", pending["text"], meta=meta, at=at)
    turn.state.pending_sms = None
    count = len(turn.store.list_evidence(turn.user_id))
    resume_opt = ["resume"] if turn.state.paused else []
    turn.reply(turn.t("sms.saved", count=count), [*resume_opt, "ev:view", "ev:pack", "flow:complain", "menu"])


def set_language(turn: Turn, arg: str | None = None) -> None:
    """Answer in the chosen locale from now on ("auto": follow the script of each message again)."""
    s = turn.state
    if arg == "auto":
        s.locale_fixed = False
        key = "common.language_auto"
    elif arg:
        s.locale, s.locale_fixed, turn.locale = arg, True, arg
        key = "common.language_set"
    turn.prefix.append(turn.t(key))
    node = waiting_node(turn)
    if node is not None:
        show(turn, node)
    else:
        menu(turn, key="common.menu_short")
    s.topic = "language"


def language_ask(turn: Turn) -> None:
    """Offer the languages."""
    turn.state.topic = "language"
    turn.reply(turn.t("common.language_ask"), ["lang:zh-Hans", "lang:zh-Hant", "lang:en", "lang:auto"])


def delete_ask(turn: Turn, arg: str | None = None) -> None:
    """Ask for confirmation before erasing everything."""
    turn.state.leave_flow()
    turn.state.topic = DELETE_TOPIC
    turn.reply(turn.t("common.delete_ask"), ["del:yes", "del:no"])


def delete_yes(turn: Turn, arg: str | None = None) -> None:
    """Erase the user's state and evidence for good (only right after the confirmation question)."""
    if turn.state.topic != DELETE_TOPIC:
        turn.reply(turn.t("common.delete_expired"), ["delete", "menu"])
        return
    turn.store.delete_user(turn.user_id)
    turn.deleted = True
    turn.reply(turn.t("common.deleted"), ["menu"])


def delete_no(turn: Turn, arg: str | None = None) -> None:
    """Keep everything."""
    turn.prefix.append(turn.t("common.delete_kept"))
    menu(turn, key="common.menu_short")


def restart_plan(turn: Turn, arg: str | None = None) -> None:
    """Start the repayment plan again from the first debt."""
    plan_restart(turn)
    show(turn, book().node("repayment_plan", "creditor"))


def privacy(turn: Turn) -> None:
    """Say what is kept, how it is protected, and how to erase it."""
    turn.state.topic = "privacy"
    turn.reply(turn.t("common.privacy"), ["delete", "menu"])


def cancel(turn: Turn) -> None:
    """Stop the current flow (answers collected so far are kept)."""
    turn.state.paused = None
    turn.prefix.append(turn.t("common.cancelled"))
    menu(turn, key="common.menu_short")


ACTIONS: dict[str, Callable[[Turn, str | None], None]] = {
    "menu": menu,
    "resume": resume,
    "checklist_done": checklist_done,
    "pack": pack,
    "export": export,
    "export_pdf": export_pdf,
    "evidence_when_now": when_now,
    "save_sms": save_sms,
    "set_language": set_language,
    "delete_ask": delete_ask,
    "delete_yes": delete_yes,
    "delete_no": delete_no,
    "plan_restart": restart_plan,
}
