"""Where the user seems to be (bot/jurisdiction.py), remembered in their state, and the notices it adds."""

from __future__ import annotations

from bot.dialogue.turn import Turn
from bot.jurisdiction import PLACES, detect_place

PLACE_DATA = "jurisdiction"
"""Key in the state's data where the place is kept (with the other answers, so /delete erases it)."""
LOCAL_EMERGENCY = {"hk": "hk", "tw": "tw", "mo": "other", "abroad": "other"}
"""Which crisis.local text gives the emergency number for a place (only Hong Kong and Taiwan are sourced)."""


def remember_place(turn: Turn, text: str) -> None:
    """Keep the place a message points to (a later message pointing elsewhere replaces it)."""
    place = detect_place(text)
    if place is not None:
        turn.state.flow_data(PLACE_DATA)["place"] = place


def place_of(turn: Turn) -> str | None:
    """Return the remembered place, or None (mainland China, or not known)."""
    place = turn.state.data.get(PLACE_DATA, {}).get("place")
    return place if place in PLACES else None


def place_notice(turn: Turn) -> list[str]:
    """Return the notice for legal screens and SMS reports when the user seems to be outside the mainland."""
    place = place_of(turn)
    return [turn.t(f"common.place_notice.{place}")] if place else []


def crisis_local(turn: Turn) -> str | None:
    """Return the emergency-number line for the user's place, or None when the place is not known."""
    place = place_of(turn)
    return turn.t(f"crisis.local.{LOCAL_EMERGENCY[place]}") if place else None
