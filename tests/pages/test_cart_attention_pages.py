"""The cart pages after a tester's round: a draw that empties a vial says to discard it (never "Do not use"),
hyaluronidase is drawn in mL on the page as through the API, and the nurse's home page says what needs her
attention at her own clinics (kits not ready, vials past beyond-use, stock on hold, stock of a recalled or
quarantined lot), and nothing when all is well.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from sqlalchemy import func, select

from inventory.cart.attention import needs_attention, set_aside_stock
from inventory.cold_chain import service as cold_chain
from inventory.models import Draw, Treatment, utcnow
from inventory.services.permissions import Scope
from recall import services as recall
from recall.models import RecallCase
from tests import kit_factories
from tests.factories import EVERYWHERE, World, reconstitute, start_treatment
from tests.pages.conftest import csrf_token
from tests.statements import recorded

EMPTY_NOTE = "is now empty: discard it in the sharps bin."


def start(world: World, ref: str, **kwargs) -> Treatment:
    return start_treatment(world, ref, at=utcnow(), **kwargs)


def post_draw(client, treatment: Treatment, container_ref: str, **fields: str):
    token = csrf_token(client, f"/cart/treatments/{treatment.id}")
    data = {"csrf_token": token, "container": container_ref, "emergency": "", "area": "lip", **fields}
    return client.post(f"/cart/treatments/{treatment.id}/draws", data=data, follow_redirects=True)


def unit_options(html: str) -> list[str]:
    select_ = re.search(r'<select[^>]*id="unit"[^>]*>(.*?)</select>', html, re.S)
    assert select_, "no Unit list on the page"
    return re.findall(r'<option[^>]*value="([^"]*)"', select_.group(1))


def attention_panel(html: str) -> str:
    found = re.search(r'<section class="panel attention".*?</section>', html, re.S)
    return found.group(0) if found else ""


def home(client) -> str:
    return client.get("/cart").get_data(as_text=True)


def attention_line(panel: str, kind: str) -> str:
    """The text of the panel's first line of ``kind`` (``beyond-use``, ``hold``, ``set-aside``)."""
    line = re.search(rf'<li class="attention-{kind}"[^>]*>(.*?)</li>', panel, re.S)
    assert line, panel
    return line.group(1)


# --- 1. a draw that empties a vial ------------------------------------------------------------------


def test_a_draw_that_empties_a_vial_says_to_discard_it_and_clears_the_scan(browser_client, world, session):
    (vial,) = world.receive("hylenex").containers  # 150 USP U in 1 mL
    treatment = start(world, "P-EMPTIED")
    session.flush()
    page = post_draw(browser_client("nurse"), treatment, vial.label_code, quantity="150", unit="USP U")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"Vial {vial.label_code} (Hylenex recombinant 150 USP U/mL) {EMPTY_NOTE}" in html
    assert "Do not use." not in html and 'data-code="container_empty"' not in html
    assert "nothing left to use" not in html
    assert 'class="panel container-panel' not in html  # back to the empty scan field, ready for the next
    assert page.request.path == f"/cart/treatments/{treatment.id}" and not page.request.query_string


def test_a_kit_vial_emptied_in_an_emergency_shows_no_kit_warning_after_the_draw(browser_client, world, session):
    kit = kit_factories.new_kit(world, name="Emergency kit (room 2)")
    (vial,) = kit_factories.stock(world, kit, "hylenex")
    treatment = start(world, "P-RESCUE")
    session.flush()
    client = browser_client("nurse")
    page = post_draw(client, treatment, vial.label_code, quantity="1", unit="mL", emergency="emergency")
    html = page.get_data(as_text=True)
    assert f"{vial.label_code} (Hylenex recombinant 150 USP U/mL) {EMPTY_NOTE}" in html
    assert "kit-item" not in html and "take it from the kit only if you mean to" not in html
    assert "Do not use." not in html
    # Scanned again later, an empty vial may still say it is empty: that is a refusal of a new scan.
    later = client.get(f"/cart/treatments/{treatment.id}?scan={vial.label_code}").get_data(as_text=True)
    assert 'data-code="container_empty"' in later


def test_a_draw_that_leaves_something_keeps_the_vial_on_the_page(browser_client, world, session):
    vial = world.container("botox")
    treatment = start(world, "P-LEFT")
    reconstitute(world, vial, at=utcnow())
    session.flush()
    html = post_draw(browser_client("nurse"), treatment, vial.label_code, quantity="4", unit="U",
                     area="glabella").get_data(as_text=True)
    assert "Recorded 4 U (0.1 mL) into glabella (frown lines)." in html
    assert EMPTY_NOTE not in html
    assert f'data-label="{vial.label_code}"' in html and "Record draw" in html


# --- 2. hyaluronidase in mL on the page ------------------------------------------------------------


def test_hyaluronidase_is_offered_in_ml_with_the_labels_conversion(browser_client, world, session):
    (vial,) = world.receive("hylenex").containers
    treatment = start(world, "P-HYAL")
    session.flush()
    html = browser_client("nurse").get(f"/cart/treatments/{treatment.id}?scan={vial.label_code}").get_data(as_text=True)
    assert unit_options(html) == ["USP U", "mL"]
    assert re.search(r'<dd id="concentration">\s*15 USP U per 0\.1 mL \(150 USP U/mL, label\)\s*</dd>', html)


def test_hyaluronidase_drawn_in_ml_on_the_page_is_converted_by_its_strength(browser_client, world, session):
    (vial,) = world.receive("hylenex").containers
    treatment = start(world, "P-HYAL-ML")
    session.flush()
    html = post_draw(browser_client("nurse"), treatment, vial.label_code, quantity="0.2",
                     unit="mL").get_data(as_text=True)
    assert "Recorded 30 USP U (0.2 mL) into lips." in html
    (draw,) = session.scalars(select(Draw)).all()
    assert (draw.quantity, draw.quantity_ml, draw.entered_unit) == (Decimal(30), Decimal("0.2"), "mL")


def test_a_toxin_and_a_filler_keep_their_units(browser_client, world, session):
    vial = world.container("botox")
    (syringe,) = world.receive("filler").containers
    treatment = start(world, "P-UNITS")
    reconstitute(world, vial, at=utcnow())
    session.flush()
    client = browser_client("nurse")
    toxin = client.get(f"/cart/treatments/{treatment.id}?scan={vial.label_code}").get_data(as_text=True)
    assert unit_options(toxin) == ["U", "mL"]
    assert re.search(r'<dd id="concentration">\s*4 U per 0\.1 mL \(40 U/mL\)\s*</dd>', toxin)
    filler = client.get(f"/cart/treatments/{treatment.id}?scan={syringe.label_code}").get_data(as_text=True)
    assert unit_options(filler) == ["mL"] and 'id="concentration"' not in filler


# --- 3. what needs attention, on the nurse's home page ---------------------------------------------


def test_the_home_page_names_her_clinics_kit_used_in_an_emergency_not_another_clinics(browser_client, world,
                                                                                          session):
    now = utcnow()
    london = kit_factories.stocked_kit(world, name="Emergency kit (London room 2)")
    kit_factories.check(world, london, at=now - dt.timedelta(hours=2))
    kit_factories.emergency_draw(world, kit_factories.stock(world, london)[0], at=now - dt.timedelta(hours=1))
    new_york = kit_factories.new_kit(world, world.other_clinic, name="Emergency kit (New York room 1)")
    session.flush()

    panel = attention_panel(home(browser_client("nurse")))
    assert "Needs attention" in panel
    assert f'href="/kits/{london.id}">Emergency kit (London room 2)</a>' in panel
    assert "Not ready" in panel and "emergency" in panel.lower()
    assert "New York" not in panel and f"/kits/{new_york.id}" not in panel

    other = attention_panel(home(browser_client("other_nurse")))
    assert f'href="/kits/{new_york.id}">Emergency kit (New York room 1)</a>' in other
    assert "Not ready" in other
    assert "London" not in other


def test_the_home_page_names_a_kit_expiring_soon(browser_client, world, session):
    kit = kit_factories.new_kit(world, name="Emergency kit (room 3)")
    soon = (utcnow() + dt.timedelta(days=10)).date()
    kit_factories.stock(world, kit, "hylenex", count=2, lot="SHORT1", expiry=soon)
    kit_factories.stock(world, kit, "syringe", count=2, lot="SY2026")
    kit_factories.check(world, kit, at=utcnow() - dt.timedelta(hours=1))
    session.flush()
    panel = attention_panel(home(browser_client("nurse")))
    assert f'href="/kits/{kit.id}">Emergency kit (room 3)</a>' in panel
    assert "Expiring soon" in panel and "SHORT1" in panel


def test_the_home_page_names_a_vial_past_beyond_use_and_where_to_waste_it(browser_client, world, session):
    vial = world.container("botox")
    reconstitute(world, vial, at=utcnow() - dt.timedelta(hours=30))
    theirs = world.container("botox", location=world.location("Fridge", world.other_clinic))
    reconstitute(world, theirs, at=utcnow() - dt.timedelta(hours=30))
    session.flush()
    panel = attention_panel(home(browser_client("nurse")))
    line = attention_line(panel, "beyond-use")
    assert f'href="/containers/{vial.label_code}">{vial.label_code}</a>' in line
    assert "passed its beyond-use time" in line and "with 100 U left" in line
    assert 'href="/cart/beyond-use">waste it</a>' in line
    assert theirs.label_code not in panel


def _warm_hours_at_the_fridge(world, session) -> None:
    """An excursion of two hours at the world's fridge, ended an hour ago: what was kept there is on hold."""
    now = utcnow()
    cold_chain.record_excursion(
        session, actor=world.users["manager"], scope=Scope.everything(), location_id=world.location().id,
        started_at=now - dt.timedelta(hours=3), ended_at=now - dt.timedelta(hours=1),
        min_c=Decimal(9), max_c=Decimal(14), now=now)
    session.flush()


def test_the_home_page_names_stock_on_hold_linking_to_the_container(browser_client, world, session):
    vial = world.container("botox")
    _warm_hours_at_the_fridge(world, session)
    panel = attention_panel(home(browser_client("nurse")))
    line = attention_line(panel, "hold")
    assert f'href="/containers/{vial.label_code}">{vial.label_code}</a>' in line
    assert "is on hold" in line and "until a safety lead releases it" in line
    # The safety lead is sent to the board where holds are released or wasted.
    lead = attention_panel(home(browser_client("safety")))
    assert 'href="/cold-chain">' in lead


def test_more_holds_than_the_panel_lists_link_to_the_stock_held_only(browser_client, world, session):
    """QA: "32 more container(s) on hold" led a nurse to the whole stock list, not to what is held."""
    for _ in range(7):
        world.container("botox")
    _warm_hours_at_the_fridge(world, session)
    panel = attention_panel(home(browser_client("nurse")))
    assert '<a href="/stock?held_only=1">2 more containers on hold</a>' in panel


def test_the_home_page_says_nothing_when_all_is_well(browser_client, world, session):
    kit = kit_factories.stocked_kit(world)
    kit_factories.check(world, kit, at=utcnow() - dt.timedelta(hours=1))
    vial = world.container("botox")
    reconstitute(world, vial, at=utcnow() - dt.timedelta(hours=1))  # within its beyond-use time
    session.flush()
    html = home(browser_client("nurse"))
    assert "Needs attention" not in html and 'class="panel attention"' not in html
    assert "Start a treatment" in html


def test_what_needs_attention_is_read_in_the_same_few_statements_however_much_there_is(world, session):
    def statements() -> int:
        session.flush()
        with recorded(session) as sent:
            found = needs_attention(session, scope=Scope.for_user(world.users["nurse"]), now=utcnow())
            # what the panel reads of each line is loaded with it
            for c in [*found.beyond_use, *found.held]:
                (c.product.name, c.location.name, c.clinic.timezone)
        return len(sent)

    def one_more_of_each(n: int) -> None:
        kit_factories.new_kit(world, name=f"Emergency kit {n}")  # never checked: not ready
        vial = world.container("botox", lot=f"LOT{n}")
        reconstitute(world, vial, at=utcnow() - dt.timedelta(hours=30))
        # stock of a quarantined lot, in two places
        suspect = world.container("dysport", lot=f"SUS{n}")
        world.receive("dysport", lot=f"SUS{n}", location=world.location("Cart"))
        recall.quarantine(session, actor=world.users["safety"], lot_id=suspect.lot_id, reason="counterfeit suspected",
                          now=utcnow())

    one_more_of_each(1)
    few = statements()
    for n in range(2, 6):
        one_more_of_each(n)
    assert statements() == few
    assert few <= 12
    with recorded(session) as sent:  # the stock of every recalled or quarantined lot: one statement
        set_aside = set_aside_stock(session, scope=Scope.for_user(world.users["nurse"]))
    assert len(sent) == 1
    assert [(lot.number, lot.containers) for lot in set_aside] == [(f"SUS{n}", 2) for n in range(1, 6)]
    assert session.scalar(select(func.count(Draw.id))) == 0  # read side only


def test_attention_is_scoped_to_the_users_clinics(world, session):
    kit_factories.new_kit(world, world.other_clinic, name="Emergency kit (New York)")
    session.flush()
    assert not needs_attention(session, scope=Scope.for_user(world.users["nurse"]), now=utcnow())
    assert needs_attention(session, scope=EVERYWHERE, now=utcnow()).kits


# --- 4. stock she must not use: its lot is recalled or quarantined ----------------------------------


def _recall(world: World, session, lot_id: int) -> None:
    recall.open_recall(session, actor=world.users["safety"], lot_ids=[lot_id], reason="Manufacturer notice 44",
                       recall_class="I", source="manufacturer", now=utcnow())
    session.flush()


def test_the_home_page_names_her_clinics_recalled_stock_where_it_is_and_what_to_do(browser_client, world, session):
    """QA: after a Class I recall of DEMOBTX01 the panel said nothing, though its vials were still in the fridge
    and one was open in her treatment: only a scan said "do not use"."""
    fridge = world.receive("botox", lot="DEMOBTX01", containers=2).containers
    (opened,) = world.receive("botox", lot="DEMOBTX01", location=world.location("Room 1")).containers
    start(world, "P-RECALLED")
    reconstitute(world, opened, at=utcnow() - dt.timedelta(hours=1))
    world.receive("botox", lot="DEMOBTX01", location=world.location("Fridge", world.other_clinic))
    world.receive("botox", lot="FINE1")  # a lot still in use: not named
    _recall(world, session, fridge[0].lot_id)

    line = attention_line(attention_panel(home(browser_client("nurse"))), "set-aside")
    assert re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", line)).strip() == (
        "Recalled Botox Cosmetic 100 U lot DEMOBTX01: 3 containers: 2 in Fridge, 1 in Room 1 (opened). "
        "Do not use them or throw them away: set them aside for the safety lead.")
    assert 'href="/stock?q=DEMOBTX01"' in line
    assert "FINE1" not in line

    # New York's nurse reads New York's one vial of it; the chain's safety lead both clinics', with the lot's trace.
    theirs = attention_line(attention_panel(home(browser_client("other_nurse"))), "set-aside")
    assert "1 container in Fridge." in theirs and "Do not use it or throw it away" in theirs
    lead = attention_line(attention_panel(home(browser_client("safety"))), "set-aside")
    assert "4 containers: 2 in LON · Fridge, 1 in LON · Room 1 (opened), 1 in NYC · Fridge." in lead
    assert f'href="/trace/lots/{fridge[0].lot_id}"' in lead
    assert "mark each returned or destroyed on the recall case" in lead


def test_the_home_page_names_quarantined_stock_with_why_and_forgets_it_once_released(browser_client, world,
                                                                                       session):
    (vial,) = world.receive("filler", lot="SUSPECT9").containers
    lead = world.users["safety"]
    recall.quarantine(session, actor=lead, lot_id=vial.lot_id, reason="Counterfeit suspected", now=utcnow())
    session.flush()
    client = browser_client("nurse")
    line = attention_line(attention_panel(home(client)), "set-aside")
    assert "Quarantined" in line and "(Counterfeit suspected)" in line
    assert "1 container in Fridge." in line
    assert "Do not use it or throw it away until a safety lead releases the lot: set it aside" in line

    recall.release(session, actor=lead, lot_id=vial.lot_id, reason="Genuine: confirmed by the maker", now=utcnow())
    session.flush()
    assert 'class="attention-set-aside"' not in home(client)


def test_recalled_stock_returned_on_the_case_leaves_the_panel(browser_client, world, session):
    (vial,) = world.receive("botox", lot="GONE1").containers
    _recall(world, session, vial.lot_id)
    client = browser_client("nurse")
    assert 'class="attention-set-aside"' in home(client)
    (case_id,) = session.scalars(select(RecallCase.id)).all()
    recall.update_container(session, actor=world.users["safety"], scope=EVERYWHERE, case_id=case_id,
                            container_id=vial.id, status="returned", now=utcnow())
    session.flush()
    assert "Needs attention" not in home(client)


def test_more_set_aside_lots_than_shown_link_a_nurse_to_the_set_aside_stock(browser_client, world, session):
    for n in range(1, 8):
        suspect = world.container("dysport", lot=f"MORE{n}")
        recall.quarantine(session, actor=world.users["safety"], lot_id=suspect.lot_id, reason="counterfeit suspected",
                          now=utcnow())
    session.flush()
    panel = attention_panel(home(browser_client("nurse")))
    more = re.search(r'<a href="([^"]*)">(\d+) more lots? recalled or quarantined</a>', panel)
    assert more, panel
    assert more.group(1) == "/stock?set_aside_only=1"
