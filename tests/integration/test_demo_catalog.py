"""The demo catalog keeps DOMAIN.md's in-use times: a Vitrase vial, once punctured, is used within 6 hours."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from sqlalchemy import select

from inventory import demo, lifecycle
from inventory.models import ContainerState, Product
from tests.factories import HASHER, NOW


def test_a_punctured_vitrase_vial_is_used_within_six_hours_as_a_mixed_hyalase_is(session):
    demo.load(session, HASHER, now=NOW)
    products = {p.name: p for p in session.scalars(select(Product).where(Product.molecule == "hyaluronidase"))}
    vitrase = products["Vitrase 200 USP U/mL 2 mL"]
    vial = SimpleNamespace(state=ContainerState.SEALED, beyond_use_at=None, product=vitrase, patient_id=None)

    lifecycle.open_for(vial, patient_id=1, treatment_id=1, now=NOW)

    assert vial.beyond_use_at == NOW + dt.timedelta(hours=6)
    assert vitrase.beyond_use_hours == products["Hyalase 1500 IU"].beyond_use_hours
