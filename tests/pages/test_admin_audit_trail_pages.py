"""The audit trail of the admin pages reads as words: what was done, by whom (a user's own change says so), when
(as every page says a moment, on the clock of the clinic it is about, the zone named), and what changed ("Clinics:
LON → LON, NYC", "Active: yes → no"), never internal codes, ids or Python's True and False."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from decimal import Decimal

from inventory.admin import service
from inventory.models import AuditEvent, Role
from inventory.services.clock import format_clinic_time
from tests.factories import EVERYWHERE, HASHER, PASSWORD


def at(hour: int, minute: int) -> dt.datetime:
    return dt.datetime(2026, 12, 5, hour, minute, tzinfo=dt.UTC)  # winter: London on GMT, New York on EST


def trail(page: str) -> list[str]:
    """Each line of the page's audit trail, as text a person reads."""
    found = re.search(r'<ul class="audit-trail">(.*?)</ul>', page, re.S)
    assert found is not None, page
    items = re.findall(r"<li[^>]*>(.*?)</li>", found.group(1), re.S)
    return [" ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", item)).split()) for item in items]


def test_a_users_trail_says_who_did_what_and_when_in_words(browser_client, world, session):
    admin = world.users["admin"]
    user = service.create_user(session, HASHER, actor=admin, scope=EVERYWHERE, username="temp", password=PASSWORD,
                               role=Role.MANAGER, clinic_ids=[world.clinic.id], chain_level=False, now=at(12, 40))
    service.change_password(session, HASHER, actor=user, scope=EVERYWHERE, user_id=user.id,
                            current_password=PASSWORD, password="a-password-of-my-own-7", now=at(12, 44))
    service.update_user(session, actor=admin, scope=EVERYWHERE, user_id=user.id, display_name="Temp Manager",
                        clinic_ids=[world.clinic.id, world.other_clinic.id], now=at(12, 46))
    service.change_password(session, HASHER, actor=admin, scope=EVERYWHERE, user_id=user.id,
                            password="admin-chose-this-9", now=at(12, 48))
    service.update_user(session, actor=admin, scope=EVERYWHERE, user_id=user.id, active=False, now=at(12, 50))
    session.flush()

    page = browser_client("admin").get(f"/users/{user.id}").get_data(as_text=True)
    # London and New York: no one clinic's clock to speak of, so UTC, named.
    assert trail(page) == [
        "Deactivated by admin, 5 Dec 2026 12:50 UTC Active: yes → no",
        "Password reset by an admin by admin, 5 Dec 2026 12:48 UTC",
        "Changed by admin, 5 Dec 2026 12:46 UTC Name shown: (none) → Temp Manager; Clinics: LON → LON, NYC",
        "Changed their own password by Temp Manager, the user themself, 5 Dec 2026 12:44 UTC",
        "Account created by admin, 5 Dec 2026 12:40 UTC Username: temp; Role: Manager; Clinics: LON; "
        "Every clinic (chain level): no",
    ]
    assert 'data-action="user.deactivated"' in page  # the code stays for machines, out of sight


def test_a_user_of_one_clinic_is_shown_on_that_clinics_clock(browser_client, world, session):
    nurse = world.users["other_nurse"]  # New York only
    nurse.last_login_at = at(12, 48)
    service.update_user(session, actor=world.users["admin"], scope=EVERYWHERE, user_id=nurse.id, active=False,
                        now=at(12, 50))
    session.flush()

    page = browser_client("admin").get(f"/users/{nurse.id}").get_data(as_text=True)
    assert "last signed in 5 Dec 2026 07:48 EST" in page
    assert trail(page) == ["Deactivated by admin, 5 Dec 2026 07:50 EST Active: yes → no"]


def test_a_clinics_trail_is_on_its_own_clock_in_the_forms_words(browser_client, world, session):
    admin = world.users["admin"]
    nyc = world.other_clinic
    service.update_clinic(session, actor=admin, scope=EVERYWHERE, clinic_id=nyc.id, now=at(12, 50),
                          settings=service.ClinicSettings(receipts_need_supplier=True, kit_warning_days=21))
    service.set_dose_range(session, actor=admin, scope=EVERYWHERE, clinic_id=nyc.id, molecule="onabotulinumtoxinA",
                           area="glabella", low=Decimal("10"), high=Decimal("25"), now=at(13, 5))
    session.flush()

    page = browser_client("admin").get(f"/clinics/{nyc.id}").get_data(as_text=True)
    assert trail(page) == [
        "Typical dose range changed by admin, 5 Dec 2026 08:05 EST "
        "onabotulinumtoxinA, Glabella (frown lines): (none of its own) → 10 to 25",
        "Settings changed by admin, 5 Dec 2026 07:50 EST "
        "Kit warning horizon (days): 30 → 21; Every receipt names its supplier: no → yes",
    ]


def test_an_action_or_field_the_trail_does_not_know_still_reads_as_words(browser_client, world, session):
    nurse = world.users["nurse"]
    session.add_all([
        AuditEvent(at=at(12, 50), actor_id=None, action="user.locked_out", object_type="user",
                   object_id=str(nurse.id), details={"failed_attempts": 5, "seen_from": {"address": "10.0.0.1"},
                                                      "clinic_ids": [world.clinic.id, 999], "flags": [True, None]}),
        AuditEvent(at=at(12, 51), actor_id=nurse.id, action="odd", object_type="user", object_id=str(nurse.id),
                   details=["not", "a", "mapping"]),
    ])
    session.flush()

    page = browser_client("admin").get(f"/users/{nurse.id}")
    assert page.status_code == 200
    assert trail(page.get_data(as_text=True)) == [
        "Odd by nurse, the user themself, 5 Dec 2026 12:51 GMT not, a, mapping",
        "Locked out by someone not on record, 5 Dec 2026 12:50 GMT "
        "Failed attempts: 5; Seen from: Address: 10.0.0.1; Clinics: LON, clinic #999; Flags: yes, (none)",
    ]


def test_a_products_page_shows_who_changed_its_limits_when_and_why(app, browser_client, world, session):
    """The product page said a loosened limit is "kept in the audit trail" and showed none: the admin reviewing
    Botox's limits could not see who raised its maximum, or why."""
    botox = world.botox
    raised = (botox.session_max_units or Decimal("100")) + 20
    service.update_product(session, actor=world.users["admin"], product_id=botox.id,
                           fields={"session_max_units": raised}, reason="Medical director's protocol 12",
                           now=at(12, 50))
    session.flush()

    page = browser_client("admin").get(f"/catalog/{botox.id}/edit").get_data(as_text=True)

    said = trail(page)
    when = format_clinic_time(at(12, 50), app.config["CLINIC_TZ"], zone=True)  # a product is the chain's
    assert any(line.startswith("Changed by ") and when in line
               and "Session maximum:" in line and f"→ {plain(raised)}" in line
               and "Why: Medical director's protocol 12" in line for line in said), said


def plain(value: Decimal) -> str:
    return format(value.normalize(), "f")
