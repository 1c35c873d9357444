"""Clinic isolation: every route, walked by clinic-level users of London against New York's objects.

A foreign object answers exactly like a missing one (404), no answer carries New York's
patients, containers or kits, and nothing of New York's changes.
"""

from __future__ import annotations

import io
import json
import re
import typing
import zipfile
from dataclasses import dataclass
from decimal import Decimal

import pytest
from flask import Flask
from pydantic import BaseModel
from sqlalchemy import func, select

from inventory.blueprints.api.core import OPERATIONS
from inventory.models import Clinic, Container, Location, LocationKind, Movement, Role
from inventory.services import auth
from inventory.counts import service as counts
from tests import kit_factories
from tests.factories import EVERYWHERE, NOW, PASSWORD, draw, make_user, patient, reconstitute, send_transfer, start_treatment

NYC_PATIENT = "Nadia Northwind"
NYC_REF = "NYC-SECRET-7"
NYC_KIT = "Manhattan emergency kit"


@dataclass
class NewYork:
    """New York's objects, and the strings that must never reach a London user."""

    ids: dict[str, int | str]
    markers: list[str]


@pytest.fixture
def new_york(world, session) -> NewYork:
    nyc, nurse = world.other_clinic, world.users["other_nurse"]
    sealed = world.container("botox", lot="NY-SEALED", location=world.location(clinic=nyc))
    opened = world.container("botox", lot="NY-OPEN", location=world.location(clinic=nyc))
    reconstitute(world, opened, user=nurse)
    nyc_patient = patient(world, NYC_REF, clinic=nyc, name=NYC_PATIENT)
    treatment = start_treatment(world, nyc_patient, user=nurse)
    drawn = draw(world, treatment, opened, "4", user=nurse)
    kit = kit_factories.new_kit(world, nyc, name=NYC_KIT)
    count = counts.create_submitted(
        session, actor=world.users["manager"], scope=EVERYWHERE, location_id=world.location(clinic=nyc).id,
        lines=[counts.LineSpec(container=sealed.id)], now=NOW,
    )
    paris = Clinic(code="PAR", name="Clinic PAR", timezone="Europe/Paris")
    session.add(paris)
    session.flush()
    session.add(Location(clinic_id=paris.id, name="Fridge", kind=LocationKind.FRIDGE))
    session.flush()
    travelling = world.container("botox", lot="NY-ROAD", location=world.location(clinic=nyc))
    transfer = send_transfer(world, [travelling], to=paris.locations[0])
    session.flush()
    ids = {
        "container_ref": sealed.label_code, "container_id": sealed.id, "treatment_id": treatment.id,
        "patient_id": nyc_patient.id, "movement_id": drawn.draw.movement_id, "kit_id": kit.id, "count_id": count.id,
        "line_id": count.lines[0].id, "transfer_id": transfer.id, "receipt_id": sealed.receipt_id,
        "location_id": world.location(clinic=nyc).id,
    }
    markers = [NYC_PATIENT, NYC_REF, NYC_KIT, sealed.label_code, opened.label_code, travelling.label_code]
    return NewYork(ids, markers)


@pytest.fixture
def london_staff(world, session) -> dict[str, object]:
    """A clinic-level user of London for every role."""
    lon = [world.clinic]
    return {
        "nurse": world.users["nurse"],
        "manager": world.users["clinic_manager"],
        "safety_lead": make_user(session, "lon-safety", Role.SAFETY_LEAD, lon),
        "admin": make_user(session, "lon-admin", Role.ADMIN, lon),
    }


def _fill(rule: str, ids: dict) -> tuple[str, bool]:
    """The rule with New York's ids in it, and whether it names a New York object."""
    targeted = False

    def value(match: re.Match[str]) -> str:
        nonlocal targeted
        name = match.group(2)
        if name in ids:
            targeted = True
            return str(ids[name])
        return {"which": "patients", "fmt": "csv", "lot_id": "999999", "case_id": "999999"}.get(name, "999999")

    return re.sub(r"<(?:(\w+):)?(\w+)>", value, rule), targeted


_SAMPLES = {
    "container": "container_ref", "containers": "container_ref", "location_id": "location_id",
    "to_location_id": "location_id", "patient_id": "patient_id",
}
_PLAIN = {
    str: "x", int: 1, bool: True, Decimal: "1", float: "1",
}


def _sample_body(model: type[BaseModel] | None, ids: dict) -> dict:
    """A body for ``model`` that points every reference it can at New York's objects."""
    if model is None:
        return {}
    body = {}
    for name, field in model.model_fields.items():
        if name in _SAMPLES:
            value = ids[_SAMPLES[name]]
            body[name] = [value] if name == "containers" else value
        elif field.is_required():
            base = typing.get_args(field.annotation)[0] if typing.get_args(field.annotation) else field.annotation
            body[name] = _PLAIN.get(base, "x")
    return body


def _text(response) -> str:
    data = response.get_data()
    if data[:2] == b"PK":  # xlsx: look inside the workbook's XML
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            return " ".join(book.read(n).decode("utf-8", "replace") for n in book.namelist() if n.endswith(".xml"))
    return data.decode("utf-8", "replace")


def _new_york_state(session, world) -> tuple:
    session.expire_all()
    nyc = world.other_clinic.id
    moves = session.scalar(select(func.count(Movement.id)).where(Movement.clinic_id == nyc))
    balances = session.execute(
        select(Container.id, Container.remaining, Container.state).where(Container.clinic_id == nyc).order_by(Container.id)
    ).all()
    return moves, balances


def test_london_users_never_see_or_change_new_york_through_the_api(app: Flask, world, session, new_york, london_staff):
    before = _new_york_state(session, world)
    leaks = []
    for role, user in london_staff.items():
        token, _ = auth.issue_token(session, user, hours=24 * 365 * 20, now=NOW)
        session.flush()
        client = app.test_client()
        for op in OPERATIONS:
            if op.endpoint in {"revoke_current_token", "create_token", "sign_out"}:
                continue
            rule = "/api/v1" + re.sub(r"\{(\w+)\}", r"<\1>", op.path)
            url, targeted = _fill(rule, new_york.ids)
            body = _sample_body(op.body, new_york.ids)
            response = client.open(url, method=op.method.upper(), json=body if op.body else None,
                                   headers={"Authorization": f"Bearer {token}"})
            text = _text(response)
            sent = url + json.dumps(body)  # echoing the caller's own input back is no leak
            found = [m for m in new_york.markers if m in text and m not in sent]
            if found:
                leaks.append((role, op.method, url, response.status_code, found))
            if targeted and response.status_code < 400:
                leaks.append((role, op.method, url, response.status_code, "answered for a New York object"))
            if targeted and response.status_code not in (403, 404, 422):
                leaks.append((role, op.method, url, response.status_code, "expected 404 (or 403 for the role)"))
    assert leaks == [], "\n".join(map(str, leaks))
    assert _new_york_state(session, world) == before


def test_london_users_never_see_new_york_in_pages(app: Flask, world, session, new_york, london_staff):
    app.config["WTF_CSRF_ENABLED"] = False  # roles and clinics are under test here, not CSRF
    leaks = []
    try:
        for role, user in london_staff.items():
            client = app.test_client()
            assert client.post("/login", data={"username": user.username, "password": PASSWORD}).status_code == 302
            for rule in app.url_map.iter_rules():
                if rule.rule.startswith(("/api/", "/static", "/logout", "/login")):
                    continue
                url, targeted = _fill(rule.rule, new_york.ids)
                for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                    response = client.open(url, method=method, data={})
                    found = [m for m in new_york.markers if m in _text(response) and m not in url]
                    if found:
                        leaks.append((role, method, url, response.status_code, found))
                    if targeted and response.status_code in (200, 201):
                        leaks.append((role, method, url, response.status_code, "answered for a New York object"))
    finally:
        app.config["WTF_CSRF_ENABLED"] = True
    assert leaks == [], "\n".join(map(str, leaks))


def test_anonymous_callers_get_nothing_from_the_api(app: Flask, world, new_york):
    client = app.test_client()
    for op in OPERATIONS:
        if op.permission is None:
            continue
        url, _ = _fill("/api/v1" + re.sub(r"\{(\w+)\}", r"<\1>", op.path), new_york.ids)
        response = client.open(url, method=op.method.upper(), json={} if op.body else None)
        assert response.status_code == 401, (op.method, url, response.status_code)
        assert not [m for m in new_york.markers if m in _text(response)]
