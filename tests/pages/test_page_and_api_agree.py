"""The page and the API refuse the same thing with the same code and message, and neither writes.

Both call the same service; the page shows the refusal as a flash whose ``data-code`` is the API's
``error.code``. The request's unit of work (inventory/unit_of_work.py) rolls a refusal back even
where the page answers with a redirect, and a commit that fails never answers a success.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from flask import Flask, redirect
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from inventory import unit_of_work
from inventory.errors import DomainError
from inventory.extensions import db
from inventory.models import Clinic, Container, Draw, Lot, LotStatus, Movement, Treatment, utcnow
from inventory.services import auth
from inventory.cart import service as cart
from inventory.services.permissions import Scope
from tests.api.conftest import ApiClient
from tests.conftest import make_test_app
from tests.factories import NOW, World
from tests.pages.conftest import csrf_token

# Requests run at the real clock: lots must outlive it.
FAR = dt.date(2099, 12, 31)
_FLASH = re.compile(r'<div class="flash flash-error"[^>]*\bdata-code="([^"]+)"[^>]*>(.*?)</div>', re.DOTALL)


@dataclass
class Attempt:
    """One refused action, said once for the API and once for the page."""

    user: str
    api_path: str
    api_body: dict
    page_path: str  # the form is fetched from here (CSRF token) and posted to ``post_path``
    post_path: str
    form: dict[str, str]


def start(world: World, ref: str) -> Treatment:
    nurse = world.users["nurse"]
    patient = cart.find_or_create_patient(world.session, scope=Scope.for_user(nurse), clinic_id=world.clinic.id,
                                          external_ref=ref, name=f"Patient {ref}")
    return cart.start_treatment(world.session, actor=nurse, scope=Scope.for_user(nurse), patient_id=patient.id,
                                location_id=world.location("Room 1").id, now=utcnow())


def syringe(world: World) -> Container:
    return world.container("filler", lot="V1234A", expiry=FAR)  # 0.55 mL, single patient


def draw_attempt(treatment: Treatment, container: Container, quantity: str = "0.2") -> Attempt:
    fields = {"container": container.label_code, "quantity": quantity, "unit": "mL", "area": "lip"}
    return Attempt("nurse", f"/treatments/{treatment.id}/draws", fields, f"/cart/treatments/{treatment.id}",
                   f"/cart/treatments/{treatment.id}/draws", fields | {"emergency": ""})


def quarantined_lot(world: World) -> Attempt:
    container = syringe(world)
    container.lot.status = LotStatus.QUARANTINED
    return draw_attempt(start(world, "P-Q"), container)


def more_than_is_left(world: World) -> Attempt:
    return draw_attempt(start(world, "P-MORE"), syringe(world), quantity="0.6")


def closed_treatment(world: World) -> Attempt:
    treatment = start(world, "P-CLOSED")
    cart.close_treatment(world.session, actor=world.users["nurse"], scope=Scope.everything(),
                         treatment_id=treatment.id, now=utcnow())
    return draw_attempt(treatment, syringe(world))


def another_patients_syringe(world: World) -> Attempt:
    container = syringe(world)
    cart.draw(world.session, actor=world.users["nurse"], scope=Scope.everything(), treatment_id=start(world, "P-1").id,
              container_id=container.id, quantity=Decimal("0.2"), unit="mL", area="lip", now=utcnow())
    return draw_attempt(start(world, "P-2"), container)


def reconstituting_a_filler(world: World) -> Attempt:
    treatment, container = start(world, "P-RECON"), syringe(world)
    return Attempt("nurse", f"/containers/{container.label_code}/reconstitute", {"diluent_ml": "1"},
                   f"/cart/treatments/{treatment.id}", f"/cart/treatments/{treatment.id}/reconstitute",
                   {"container": container.label_code, "diluent_ml": "1"})


def receiving_an_expired_lot(world: World) -> Attempt:
    code = f"]d201{world.botox.gtins[0].gtin}1720013110OLD1"  # expired on 31 January 2020
    location_id = world.location().id
    supplier = world.supplier.id
    return Attempt("manager", "/receipts", {"code": code, "containers": 1, "location_id": location_id,
                                            "supplier_id": supplier},
                   "/receive", "/receive", {"code": code, "containers": "1", "location_id": str(location_id),
                                            "supplier_id": str(supplier)})


@pytest.fixture
def api(app: Flask, session, world) -> Callable[[str], ApiClient]:
    """``api(username)``: an API client of that world user, as tests/api/conftest.py makes them."""

    def sign_in(username: str) -> ApiClient:
        token, _ = auth.issue_token(session, world.users[username], hours=24 * 365 * 20, now=NOW)
        session.flush()
        return ApiClient(app.test_client(), token)

    return sign_in


def written(session: Session) -> tuple[int, ...]:
    session.expire_all()
    return tuple(session.scalar(select(func.count(model.id))) for model in (Movement, Draw, Container, Lot))


def page_refusal(response) -> tuple[str, str]:
    """The one refusal a page shows: its data-code and its message."""
    found = _FLASH.findall(response.get_data(as_text=True))
    assert len(found) == 1, response.get_data(as_text=True)
    code, message = found[0]
    return code, html.unescape(message.strip())


@pytest.mark.parametrize(("scene", "code"), [
    (quarantined_lot, "lot_quarantined"),
    (more_than_is_left, "insufficient_quantity"),
    (closed_treatment, "treatment_closed"),
    (another_patients_syringe, "container_other_patient"),
    (reconstituting_a_filler, "wrong_product_kind"),
    (receiving_an_expired_lot, "lot_expired"),
])
def test_the_page_shows_the_apis_refusal_and_neither_writes(
    api, browser_client, world, session, scene: Callable[[World], Attempt], code: str,
):
    attempt = scene(world)
    session.flush()
    before = written(session)

    answer = api(attempt.user).post(attempt.api_path, attempt.api_body)
    assert answer.status_code == 409, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == code
    assert written(session) == before

    client = browser_client(attempt.user)
    form = attempt.form | {"csrf_token": csrf_token(client, attempt.page_path)}
    page = client.post(attempt.post_path, data=form, follow_redirects=True)
    assert page_refusal(page) == (error["code"], error["message"])
    assert written(session) == before


def draws(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(Draw.id)))


@pytest.fixture
def commit_fails_once(monkeypatch) -> Callable[[DBAPIError], None]:
    """``commit_fails_once(error)``: the next commit of any session raises ``error`` instead."""

    def arm(error: DBAPIError) -> None:
        real_commit = Session.commit

        def failing_commit(self: Session) -> None:
            monkeypatch.setattr(Session, "commit", real_commit)
            raise error

        monkeypatch.setattr(Session, "commit", failing_commit)

    return arm


LOST = OperationalError("COMMIT", {}, Exception("server closed the connection"), connection_invalidated=True)
CONFLICT = IntegrityError("COMMIT", {}, Exception("duplicate key value"))


@pytest.mark.parametrize(("error", "status", "words"), [
    (LOST, 503, "nothing was saved"),
    (CONFLICT, 500, "nothing was changed"),
])
def test_a_draw_whose_commit_fails_answers_the_error_page_not_a_success(
    browser_client, world, session, commit_fails_once, error, status, words,
):
    treatment, container = start(world, "P-FAIL"), syringe(world)
    session.flush()
    client, attempt = browser_client("nurse"), draw_attempt(treatment, container)
    form = attempt.form | {"csrf_token": csrf_token(client, attempt.page_path)}
    commit_fails_once(error)
    page = client.post(attempt.post_path, data=form)
    assert page.status_code == status
    assert words in page.get_data(as_text=True)
    assert draws(session) == 0
    # The view had queued "Recorded 0.2 mL into lips.": neither this page nor the next may say it.
    assert "Recorded" not in page.get_data(as_text=True)
    assert "Recorded" not in client.get(attempt.page_path).get_data(as_text=True)


def test_an_api_draw_whose_commit_fails_keeps_no_idempotency_record_and_its_retry_draws(
    api, world, session, commit_fails_once,
):
    """The idempotency record is written in the draw's transaction: lost with it, never replayed empty."""
    treatment, container = start(world, "P-RETRY"), syringe(world)
    session.flush()
    nurse, attempt = api("nurse"), draw_attempt(treatment, container)
    headers = {"Idempotency-Key": "draw-lost-1"}
    commit_fails_once(LOST)
    lost = nurse.post(attempt.api_path, attempt.api_body, headers=headers)
    assert lost.status_code == 503 and lost.get_json()["error"]["code"] == "database_unavailable"
    assert draws(session) == 0
    retried = nurse.post(attempt.api_path, attempt.api_body, headers=headers)
    assert retried.status_code == 201, retried.get_json()
    assert nurse.post(attempt.api_path, attempt.api_body, headers=headers).get_data() == retried.get_data()
    assert draws(session) == 1


# --- the unit of work's verdicts, on views of its own -----------------------------------------------


def _write(code: str) -> None:
    db.session.add(Clinic(code=code, name=f"Clinic {code}", timezone="UTC"))
    db.session.flush()


def _probe(outcome: str) -> ResponseReturnValue:
    """Writes clinic UOW1, then ends as ``outcome`` says."""
    _write("UOW1")
    match outcome:
        case "ok":
            return "ok"
        case "redirect":
            return redirect("/")
        case "refused-redirect":
            unit_of_work.mark_refused()
            _write("UOW2")  # after the refusal too: the request's end rolls it back as well
            return redirect("/")
        case "unprocessable":
            return "no", 422
        case "kept-401":
            unit_of_work.keep_despite_refusal()
            return "no", 401
        case "kept-then-raised":
            unit_of_work.keep_despite_refusal()
    raise DomainError("Refused.")


@pytest.fixture
def probe_app(database_url: str, tmp_path, session) -> Iterator[Flask]:
    """A second app on the test's connection, with the view /probe/<outcome>."""
    app = make_test_app(database_url, tmp_path / "instance")
    app.add_url_rule("/probe/<outcome>", endpoint="probe", view_func=_probe)
    db.bind_sessions_to(app, session.connection())
    yield app
    app.extensions["vialog_db"].engine.dispose()


@pytest.mark.parametrize(("outcome", "status", "kept"), [
    ("ok", 200, True),
    ("redirect", 302, True),
    ("refused-redirect", 302, False),
    ("unprocessable", 422, False),
    ("kept-401", 401, True),
    ("raised", 409, False),
    ("kept-then-raised", 409, False),
])
def test_a_request_keeps_its_work_only_for_a_success_not_refused_or_a_kept_refusal(
    probe_app, session, outcome, status, kept,
):
    assert probe_app.test_client().get(f"/probe/{outcome}").status_code == status
    session.expire_all()
    codes = session.scalars(select(Clinic.code).where(Clinic.code.like("UOW%"))).all()
    assert codes == (["UOW1"] if kept else [])
