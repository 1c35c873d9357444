"""The product page asks an admin why a label limit is made looser, refuses the save without it, and shows the
latest loosening with who, when and why (DOMAIN.md: never looser "without an admin recording why")."""

from __future__ import annotations

from sqlalchemy import select

from inventory.models import AuditEvent, Product
from inventory.services.clock import format_clinic_time
from tests.factories import make_product
from tests.pages.test_molecule_limits_pages import _save  # the edit page's form, filled as it shows

WHY = "say why (e.g. the new label, a clinical protocol)."


def test_the_edit_page_always_offers_the_reason_field_to_an_admin(browser_client, world):
    page = browser_client("admin").get(f"/catalog/{world.botox.id}/edit").get_data(as_text=True)
    assert 'id="p-reason"' in page and 'name="reason"' in page
    assert "needed when a change loosens a dose limit" in page
    assert 'id="p-latest-loosening"' not in page  # nothing loosened yet


def test_qa_repro_raising_botox_to_500_u_on_the_page_asks_why_and_saves_nothing(browser_client, world, session):
    admin = browser_client("admin")
    botox = world.botox
    refused = _save(admin, botox, session_max_units="500")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert ("Raising the session maximum of Botox Cosmetic 100 U (64 U to 500 U) loosens a safety limit: "
            f"{WHY}") in html
    assert "Why (required: this save loosens a dose limit)" in html
    assert 'id="p-reason"' in html and "required" in html.split('id="p-reason"')[1].split(">")[0]
    assert 'value="500"' in html  # what was typed stays
    session.expire_all()
    assert session.get(Product, botox.id).session_max_units == 64


def test_with_a_reason_the_page_saves_and_shows_the_latest_loosening(app, browser_client, world, session):
    admin = browser_client("admin")
    botox = world.botox
    saved = _save(admin, botox, session_max_units="500", reason="New label, March 2026 revision")
    assert saved.status_code == 302, saved.get_data(as_text=True)
    session.expire_all()
    assert session.get(Product, botox.id).session_max_units == 500
    event = session.scalars(select(AuditEvent).where(AuditEvent.object_id == str(botox.id),
                                                     AuditEvent.action == "product.changed")).one()
    assert event.details["reason"] == "New label, March 2026 revision"

    for role in ("admin", "manager"):
        page = browser_client(role).get(f"/catalog/{botox.id}/edit").get_data(as_text=True)
        shown = page.split('id="p-latest-loosening">')[1].split("</p>")[0]
        # The catalog is the chain's, of no one clinic: said in UTC, as every moment is said ("5 Dec 2026 12:50").
        assert shown.startswith(f"Last loosened {format_clinic_time(event.at, app.config['CLINIC_TZ'], zone=True)} by admin: ")
        assert "session maximum 64 U to 500 U" in shown
        assert "Why: New label, March 2026 revision." in shown


def test_a_later_tightening_leaves_the_latest_loosening_shown(browser_client, world, session):
    admin = browser_client("admin")
    botox = world.botox
    assert _save(admin, botox, session_max_units="500", reason="New label").status_code == 302
    session.expire_all()
    botox = session.get(Product, botox.id)
    assert _save(admin, botox, session_max_units="100").status_code == 302  # tighter: no reason needed
    page = admin.get(f"/catalog/{botox.id}/edit").get_data(as_text=True)
    shown = page.split('id="p-latest-loosening">')[1].split("</p>")[0]
    assert "session maximum 64 U to 500 U" in shown and "Why: New label." in shown


def test_a_loosening_set_on_the_molecule_shows_on_each_of_its_products(browser_client, world, session):
    botox_50 = make_product(session, "Botox Cosmetic 50 U")
    admin = browser_client("admin")
    refused = _save(admin, world.botox, retreat_interval_days="", cumulative_window_days="30")
    assert refused.status_code == 422
    assert ("Shortening the cumulative window of Botox Cosmetic 100 U and Botox Cosmetic 50 U (90 days to 30 days; "
            "same molecule, onabotulinumtoxinA) loosens a safety limit") in refused.get_data(as_text=True)
    saved = _save(admin, world.botox, cumulative_window_days="30", reason="Clinic protocol CP-12")
    assert saved.status_code == 302
    page = admin.get(f"/catalog/{botox_50.id}/edit").get_data(as_text=True)
    shown = page.split('id="p-latest-loosening">')[1].split("</p>")[0]
    assert "cumulative window 90 days to 30 days" in shown and "Why: Clinic protocol CP-12." in shown


def test_tightening_on_the_page_needs_no_reason(browser_client, world, session):
    admin = browser_client("admin")
    daxxify = world.products["daxxify"]
    assert _save(admin, daxxify, retreat_interval_days="120").status_code == 302
    session.expire_all()
    assert session.get(Product, daxxify.id).retreat_interval_days == 120
    assert 'id="p-latest-loosening"' not in admin.get(f"/catalog/{daxxify.id}/edit").get_data(as_text=True)
