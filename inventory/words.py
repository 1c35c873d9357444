"""How Vialog says counts and lists in its messages: one home, so every page and answer reads alike."""

from __future__ import annotations

from collections.abc import Sequence


def counted(count: int, noun: str) -> str:
    """ "1 container", "2 containers". """
    return f"{count} {noun}{'' if count == 1 else 's'}"


def listing(items: Sequence[str], conjunction: str = "and") -> str:
    """ "A", "A and B", "A, B and C" (or "A, B or C")."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def some_of(items: Sequence[str], shown: int) -> str:
    """The first ``shown`` of ``items`` and how many more: "VL-1, VL-2 and 3 more", without flooding the page."""
    named = ", ".join(items[:shown])
    return f"{named} and {len(items) - shown} more" if len(items) > shown else named
