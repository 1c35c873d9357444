"""PATCH /patients/<id>: the contact details a recall relies on to reach the patient (its notification list and
letters) are a phone number a person can dial and an email address a mail can be sent to, kept as typed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from inventory.models import AuditEvent, Patient
from tests.api.conftest import error_code
from tests.factories import patient

PHONE_REFUSED = "Phone: type a phone number the clinic can dial, such as +44 20 7946 0000 (an extension as ext 12)."
EMAIL_REFUSED = "Email: type an email address the clinic can write to, such as jane@example.com. "


@pytest.fixture
def amelia(world, session) -> Patient:
    amelia = patient(world, "P-1001")
    session.flush()
    return amelia


def stored(session, who: Patient) -> tuple[str | None, str | None, str | None]:
    session.expire_all()
    again = session.get(Patient, who.id)
    return again.phone, again.email, again.address


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"email": "jane@@example"}, "email", EMAIL_REFUSED + "The part after the @-sign contains invalid characters: '@'."),
    ({"email": "jane@example"}, "email", EMAIL_REFUSED + "The part after the @-sign is not valid. It should have a "
                                                         "period."),
    ({"phone": "abc"}, "phone", PHONE_REFUSED),
    ({"phone": "call me maybe"}, "phone", PHONE_REFUSED),
    ({"phone": "12345"}, "phone", "Phone: a phone number has 6 to 15 digits; this one has 5. Type a phone number the "
                                  "clinic can dial, such as +44 20 7946 0000."),
    # The good field sent with the bad one is not kept either.
    ({"phone": "+44 20 7946 0000", "email": "jane@@example"}, "email",
     EMAIL_REFUSED + "The part after the @-sign contains invalid characters: '@'."),
])
def test_a_contact_no_one_can_use_is_refused_on_its_field_and_nothing_is_saved(api, session, amelia, body, field,
                                                                               message):
    response = api("nurse").patch(f"/patients/{amelia.id}", body)
    assert (response.status_code, error_code(response)) == (422, "validation_error")
    error = response.get_json()["error"]
    assert error["message"] == message
    assert error["details"] == {"field": field, "fields": [{"field": field, "problem": message}]}
    assert stored(session, amelia) == (None, None, None)
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.contact_updated")) is None


def test_a_number_and_an_address_are_kept_as_typed_trimmed(api, session, amelia):
    response = api("nurse").patch(f"/patients/{amelia.id}", {"phone": "  +44 (0)20 7946-0000 ext 12 ",
                                                             "email": " Jane.Doe@Example.COM "})
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["phone"], response.get_json()["email"]) == ("+44 (0)20 7946-0000 ext 12",
                                                                             "Jane.Doe@Example.COM")
    assert stored(session, amelia) == ("+44 (0)20 7946-0000 ext 12", "Jane.Doe@Example.COM", None)
    # A blank or null one is cleared, not checked.
    cleared = api("nurse").patch(f"/patients/{amelia.id}", {"phone": "  ", "email": None})
    assert cleared.status_code == 200 and stored(session, amelia) == (None, None, None)


def test_details_stored_before_the_rule_stay_until_someone_changes_them(api, session, amelia):
    amelia.phone, amelia.email = "call me maybe", "jane@@example"  # on file before the rule
    session.flush()
    nurse = api("nurse")
    # Sent back unchanged beside an address (as the patient page sends every field): kept, the address saved.
    kept = nurse.patch(f"/patients/{amelia.id}", {"phone": "call me maybe", "email": "jane@@example",
                                                  "address": "1 High Street"})
    assert kept.status_code == 200, kept.get_json()
    assert stored(session, amelia) == ("call me maybe", "jane@@example", "1 High Street")
    # Changed: checked.
    changed = nurse.patch(f"/patients/{amelia.id}", {"phone": "call me later"})
    assert (changed.status_code, changed.get_json()["error"]["details"]["field"]) == (422, "phone")
    fixed = nurse.patch(f"/patients/{amelia.id}", {"phone": "07700 900123", "email": "jane@example.com"})
    assert fixed.status_code == 200
    assert stored(session, amelia) == ("07700 900123", "jane@example.com", "1 High Street")
