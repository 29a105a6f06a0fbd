"""The flow book: every flow's steps and buttons, read from responses/flows.yml and checked on load."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from bot.dialogue import content

ASK_KINDS = ("choice", "amount", "amount_or_zero", "rate", "text", "sms")
MAX_OPTION_ID_BYTES = 40
"""Option ids travel as Telegram callback data (≤ 64 bytes); 40 leaves room for a prefix."""


class FlowError(ValueError):
    """responses/flows.yml describes something the engine cannot run."""


@dataclass(frozen=True)
class Node:
    """One step of a flow (see the header of responses/flows.yml for what each field does)."""

    flow: str
    name: str
    say: tuple[str, ...] = ()
    legal: bool = False
    hook: str | None = None
    options: tuple[str, ...] = ()
    ask: str | None = None
    choices: dict[str, str] = field(default_factory=dict)
    words: dict[str, tuple[str, ...]] = field(default_factory=dict)
    lookup: dict[str, str] = field(default_factory=dict)
    detect: bool = False
    revisit: bool = False
    save: str | None = None
    next: str | None = None
    after: str | None = None
    free: bool = False

    @property
    def path(self) -> str:
        """Return "flow.step"."""
        return f"{self.flow}.{self.name}"


@dataclass(frozen=True)
class Flow:
    """A named flow: its entry step and its steps."""

    name: str
    entry: str
    nodes: dict[str, Node]


@dataclass(frozen=True)
class Action:
    """What a button does when it does not answer the current question: go to a step, or run an action."""

    goto: str | None = None
    do: str | None = None
    arg: str | None = None


@dataclass(frozen=True)
class FlowBook:
    """All flows, the menu, and what every button does."""

    flows: dict[str, Flow]
    options: dict[str, Action]
    menu: tuple[str, ...]
    choices: dict[str, tuple[Node, str]]

    def node(self, flow: str, name: str | None = None) -> Node:
        """Return a step (the flow's entry step when name is None)."""
        f = self.flows[flow]
        return f.nodes[name or f.entry]

    def target(self, goto: str) -> Node:
        """Resolve "flow" or "flow.step" to a step."""
        flow, _, name = goto.partition(".")
        return self.node(flow, name or None)

    def option_ids(self) -> set[str]:
        """Return every button id the flows can show."""
        ids = set(self.options) | set(self.choices) | set(self.menu)
        for f in self.flows.values():
            for n in f.nodes.values():
                ids |= set(n.options)
        return ids


def _strs(value: Any, where: str) -> tuple[str, ...]:
    """Read a list of strings."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FlowError(f"{where}: expected a list of names")
    return tuple(value)


def _node(flow: str, name: str, raw: dict[str, Any]) -> Node:
    """Build one step from its YAML mapping."""
    where = f"flows.{flow}.{name}"
    known = set(Node.__dataclass_fields__) - {"flow", "name"}
    unknown = set(raw) - known
    if unknown:
        raise FlowError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    ask = raw.get("ask")
    if ask is not None and ask not in ASK_KINDS:
        raise FlowError(f"{where}: ask must be one of {', '.join(ASK_KINDS)}")
    choices = {str(k): str(v) for k, v in (raw.get("choices") or {}).items()}
    words = {str(k): tuple(str(w) for w in v) for k, v in (raw.get("words") or {}).items()}
    lookup = {str(k): str(v) for k, v in (raw.get("lookup") or {}).items()}
    if set(lookup.values()) - set(choices.values()):
        raise FlowError(f"{where}: lookup names a value that is not one of its choices")
    return Node(
        flow=flow,
        name=name,
        say=_strs(raw.get("say"), where),
        legal=bool(raw.get("legal")),
        hook=raw.get("hook"),
        options=_strs(raw.get("options"), where),
        ask=ask,
        choices=choices,
        words=words,
        lookup=lookup,
        detect=bool(raw.get("detect")),
        revisit=bool(raw.get("revisit")),
        save=raw.get("save"),
        next=raw.get("next"),
        after=raw.get("after"),
        free=bool(raw.get("free")),
    )


def build_book(raw: dict[str, Any]) -> FlowBook:
    """Build and check the flow book: every step, target and button must exist."""
    flows: dict[str, Flow] = {}
    for fname, fraw in (raw.get("flows") or {}).items():
        nodes = {str(n): _node(fname, str(n), nraw or {}) for n, nraw in (fraw.get("nodes") or {}).items()}
        entry = fraw.get("entry")
        if entry not in nodes:
            raise FlowError(f"flows.{fname}: entry {entry!r} is not one of its steps")
        flows[fname] = Flow(fname, entry, nodes)
    options: dict[str, Action] = {}
    for oid, spec in (raw.get("options") or {}).items():
        options[str(oid)] = Action(spec.get("goto"), spec.get("do"), spec.get("arg"))
    choices: dict[str, tuple[Node, str]] = {}
    for f in flows.values():
        for n in f.nodes.values():
            for oid, value in n.choices.items():
                if oid in choices or oid in options:
                    raise FlowError(f"{n.path}: button {oid!r} is defined twice")
                choices[oid] = (n, value)
    book = FlowBook(flows, options, _strs(raw.get("menu"), "menu"), choices)
    _check(book)
    return book


def _check(book: FlowBook) -> None:
    """Fail loudly on a dangling step name, an undefined button or an over-long id."""
    for oid, action in book.options.items():
        if action.goto:
            flow, _, name = action.goto.partition(".")
            if flow not in book.flows or (name and name not in book.flows[flow].nodes):
                raise FlowError(f"options.{oid}: goto {action.goto!r} does not exist")
        elif not action.do:
            raise FlowError(f"options.{oid}: needs goto or do")
    for f in book.flows.values():
        for n in f.nodes.values():
            for oid in n.options:
                if oid not in book.options and oid not in book.choices:
                    raise FlowError(f"{n.path}: button {oid!r} is not defined under options")
            if n.next and n.next not in f.nodes:
                raise FlowError(f"{n.path}: next {n.next!r} is not a step of {f.name}")
    for oid in book.option_ids():
        if not oid.isascii() or len(oid.encode()) > MAX_OPTION_ID_BYTES:
            raise FlowError(f"button id {oid!r} must be ASCII and at most {MAX_OPTION_ID_BYTES} bytes")


@lru_cache(maxsize=1)
def book() -> FlowBook:
    """Return the flow book (loaded once)."""
    return build_book(content.flows())
