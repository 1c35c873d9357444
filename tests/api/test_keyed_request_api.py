"""A keyed write (an ``Idempotency-Key``) claims its key with the token's own statement on PostgreSQL (issue 22:
one round trip for the two things every keyed write does first). The claim must stay what it was: made only
for a good token and a request the API reads, rolled back with any refusal, and answered after 401 and 403, so
a stranger or a role without the permission learns nothing of the body or the key. Both databases."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from inventory.models import ApiToken, Container, IdempotencyRecord
from inventory.services import auth
from tests.api.conftest import error_code
from tests.factories import NOW
from tests.api.test_foundation_api import gs1
from tests.statements import kinds, recorded, token_and_claim


def _receipt(world) -> dict:
    return {"code": gs1(world.botox.gtins[0].gtin), "containers": 2, "location_id": world.location().id}


def _claims(session, key: str) -> int:
    session.expire_all()
    return session.scalar(select(func.count(IdempotencyRecord.id)).where(IdempotencyRecord.key == key))


def test_a_keyed_write_starts_with_the_token_and_its_claim(api, world, session):
    manager = api("manager")
    body = _receipt(world)
    with recorded(session) as sent:
        first = manager.post("/receipts", body, headers={"Idempotency-Key": "box-7"})
    assert first.status_code == 201, first.get_json()
    statements = [k for k in kinds(sent) if not k.startswith(("SAVEPOINT", "RELEASE"))]  # the test's own
    assert statements[:len(token_and_claim(session))] == token_and_claim(session)
    record = session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == "box-7"))
    assert record.user_id == world.users["manager"].id and record.status_code == 201
    assert record.response_body == first.get_data(as_text=True)
    # The retry reads the token and the stored answer: no second receipt.
    again = manager.post("/receipts", body, headers={"Idempotency-Key": "box-7"})
    assert again.status_code == 201 and again.get_data() == first.get_data()
    assert session.scalar(select(func.count(Container.id))) == 2


def test_a_revoked_expired_or_unknown_token_claims_nothing(api, world, session):
    manager = api("manager")
    revoked = api("manager")
    assert auth.revoke_token(session, revoked.token, now=NOW)
    expired = api("manager")
    session.execute(ApiToken.__table__.update().where(ApiToken.token_hash == auth._token_hash(expired.token))
                    .values(expires_at=NOW - dt.timedelta(days=1)))
    world.users["nurse"].is_active = False
    inactive = api("nurse")
    session.flush()
    stranger = api()
    stranger.token = "vlg_not-a-token"
    for n, client in enumerate((revoked, expired, inactive, stranger)):
        response = client.post("/receipts", _receipt(world), headers={"Idempotency-Key": f"box-{n}"})
        assert response.status_code == 401 and error_code(response) == "unauthorized", n
        assert _claims(session, f"box-{n}") == 0, n
    # The good token still claims and records.
    assert manager.post("/receipts", _receipt(world), headers={"Idempotency-Key": "box-0"}).status_code == 201
    assert _claims(session, "box-0") == 1


def test_a_role_without_the_permission_gets_403_and_its_claim_is_rolled_back(api, world, session):
    nurse = api("nurse")
    refused = nurse.post("/receipts", _receipt(world), headers={"Idempotency-Key": "box-n"})
    assert refused.status_code == 403 and error_code(refused) == "forbidden"
    assert _claims(session, "box-n") == 0
    assert session.scalar(select(func.count(Container.id))) == 0


def test_401_and_403_come_before_what_is_wrong_with_the_body_or_the_key(api, world):
    stranger, nurse, manager = api(), api("nurse"), api("manager")
    long_key = {"Idempotency-Key": "k" * 201}
    for client, status in ((stranger, 401), (nurse, 403)):
        assert client.post("/receipts", "{not json", headers={"Idempotency-Key": "a"}).status_code == status
        assert client.post("/receipts", {"containers": "many"}, headers={"Idempotency-Key": "a"}).status_code == status
        assert client.post("/receipts", _receipt(world), headers=long_key).status_code == status
    malformed = manager.post("/receipts", "{not json", headers={"Idempotency-Key": "a"})
    assert malformed.status_code == 400 and error_code(malformed) == "malformed_json"
    too_long = manager.post("/receipts", _receipt(world), headers=long_key)
    assert too_long.status_code == 422 and too_long.get_json()["error"]["details"]["field"] == "Idempotency-Key"


def test_a_body_refused_claims_nothing_and_the_corrected_request_records_once(api, world, session):
    manager = api("manager")
    body = _receipt(world)
    refused = manager.post("/receipts", {**body, "containers": 0}, headers={"Idempotency-Key": "box-r"})
    assert refused.status_code == 422, refused.get_json()
    assert _claims(session, "box-r") == 0
    unknown = manager.post("/receipts", {**body, "location_id": 999_999}, headers={"Idempotency-Key": "box-r"})
    assert unknown.status_code in (404, 422), unknown.get_json()  # refused by the service: claim rolled back
    assert _claims(session, "box-r") == 0
    recorded_once = manager.post("/receipts", body, headers={"Idempotency-Key": "box-r"})
    assert recorded_once.status_code == 201, recorded_once.get_json()
    assert _claims(session, "box-r") == 1
    assert session.scalar(select(func.count(Container.id))) == 2



def test_a_password_is_never_part_of_a_requests_stored_hash(app):
    """A fast, unsalted hash over a body with a password in it would be as good as the password to whoever reads
    the idempotency records: the hash leaves passwords out (the pages' forms alike, test_form_once_admin_pages)."""
    from inventory.admin.schemas import PasswordIn
    from inventory.blueprints.api.core import _request_hash

    with app.test_request_context("/api/v1/users/7/password", method="POST"):
        hashed = {_request_hash(PasswordIn(password=new, current_password=current))
                  for new, current in (("new-long-pw-1", "old-pw-1"), ("other-long-pw-2", "old-pw-2"))}
    assert len(hashed) == 1
    with app.test_request_context("/api/v1/users/8/password", method="POST"):
        assert _request_hash(PasswordIn(password="new-long-pw-1")) not in hashed  # the rest still counts
