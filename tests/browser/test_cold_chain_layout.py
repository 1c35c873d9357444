"""The cold-chain page at 1,300 px: the hold board's reasons show their whole placeholder, the excursion form's
place and times show whole, and the board stands apart from the form below it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from inventory.cold_chain import service as cold_chain
from inventory.cold_chain.models import HoldOutcome
from inventory.extensions import db
from inventory.models import Location, User, utcnow
from inventory.services.permissions import Scope
from tests.browser.conftest import screenshot, sign_in

WIDE = {"width": 1300, "height": 900}
# Whether a field shows its text whole: the text's width (its value, the selected option's or its placeholder),
# measured in the field's own font, fits inside the field less its padding (and a select's arrow).
CUT_OFF = """(el) => {
  const style = getComputedStyle(el);
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = style.font;
  // A datetime-local shows its value on the browser's clock ("12/05/2026, 10:00 PM") beside a calendar icon.
  const moment = el.type === "datetime-local" && el.value;
  const text = el.tagName === "SELECT" ? el.options[el.selectedIndex].text
    : moment ? new Date(el.value).toLocaleString(undefined, {year: "numeric", month: "2-digit", day: "2-digit",
                                                              hour: "2-digit", minute: "2-digit"})
    : el.value || el.placeholder;
  const arrow = el.tagName === "SELECT" || moment ? 24 : 0;
  const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - arrow;
  return {text, needs: Math.ceil(ctx.measureText(text).width), room, scroll: el.scrollWidth, client: el.clientWidth};
}"""


def _hold_something(live_server) -> None:
    """An excursion at New York's fridge, of the last hour: the demo stock there goes on hold. New York, not
    London: the phone test of test_adverse_event records its own at London's (one excursion per span a place)."""
    with live_server.app.app_context():
        lead = db.session.scalar(select(User).where(User.username == "safety"))
        fridge = db.session.scalars(select(Location).where(Location.name == "Medicines fridge",
                                                           Location.temperature_sensitive)).all()
        fridge = next(f for f in fridge if f.clinic.code == "NYC")
        now = utcnow()
        try:
            cold_chain.record_excursion(db.session, actor=lead, scope=Scope.everything(), location_id=fridge.id,
                                        started_at=now - dt.timedelta(hours=1), ended_at=now, min_c=Decimal(9), max_c=Decimal(13),
                                        now=now)
        except cold_chain.ExcursionAlreadyRecorded:
            pass  # the other backend's run, or a rerun: held already
        db.session.commit()


def test_the_hold_board_and_the_excursion_form_show_their_text_whole_at_1300_px(page, live_server):
    _hold_something(live_server)
    try:
        _measure(page, live_server)
    finally:  # the live server is shared: New York's kit was stocked from that fridge, and must count again
        _release_everything(live_server)


def _release_everything(live_server) -> None:
    with live_server.app.app_context():
        lead = db.session.scalar(select(User).where(User.username == "safety"))
        held = [h.container.id for h in cold_chain.open_holds(db.session, scope=Scope.everything())
                if not h.is_emptied]
        if held:
            cold_chain.end_holds(db.session, actor=lead, scope=Scope.everything(), container_ids=held,
                                 outcome=HoldOutcome.RELEASED, reason="test clean-up", now=utcnow())
        db.session.commit()


def _measure(page, live_server) -> None:
    page.set_viewport_size(WIDE)
    sign_in(page, "safety")
    page.goto("/cold-chain")
    page.select_option("#location_id", label="LON · Medicines fridge")
    page.fill("#started_at", "2026-12-05T22:00")
    page.fill("#ended_at", "2026-12-05T22:00")
    page.select_option("#import_location_id", label="LON · Medicines fridge")

    fields = page.locator("table.holds input[name=reason]")
    assert fields.count() > 0
    measured = [fields.nth(i).evaluate(CUT_OFF) for i in range(min(fields.count(), 6))]
    measured += [page.locator(sel).evaluate(CUT_OFF) for sel in
                 ("#location_id", "#started_at", "#ended_at", "#import_location_id")]
    problems = [f"cut off: {m}" for m in measured if m["needs"] > m["room"] or m["scroll"] > m["client"]]
    board = page.locator("table.holds").evaluate("(t) => [t.parentElement.scrollWidth, t.parentElement.clientWidth]")
    if board[0] > board[1]:
        problems.append(f"the hold board scrolls sideways at 1,300 px: {board}")
    gap = page.evaluate("""() => {
      const board = document.querySelector("table.holds").closest(".table-scroll").getBoundingClientRect();
      const form = document.querySelector("#location_id").closest("section").getBoundingClientRect();
      return form.top - board.bottom;
    }""")
    if gap < 12:
        problems.append(f"the hold board touches the form below it ({gap} px apart)")
    assert problems == [], "\n".join(problems)
    screenshot(page, f"cold_chain_1300_{live_server.backend}")
