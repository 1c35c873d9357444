"""POST /transfers refuses a mixed vial of a recalled or quarantined lot with the lot's own error code."""

from __future__ import annotations

import pytest

from inventory.models import LotStatus, utcnow
from tests.api.conftest import error_code
from tests.factories import reconstitute

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.mark.parametrize(("status", "code"), [(LotStatus.RECALLED, "lot_recalled"),
                                              (LotStatus.QUARANTINED, "lot_quarantined")])
def test_a_mixed_vial_of_a_withdrawn_lot_is_refused_for_its_lot(api, world, session, status, code):
    vial = reconstitute(world, world.container("botox", lot="RC-API", now=utcnow()), at=utcnow())
    vial.lot.status = status
    session.flush()

    response = api("manager").post("/transfers", {"to_location_id": world.location("Fridge", world.other_clinic).id,
                                                  "containers": [vial.label_code]})

    assert (response.status_code, error_code(response)) == (409, code)
    error = response.get_json()["error"]
    assert error["details"]["container_id"] == vial.id and "Lot RC-API of Botox Cosmetic 100 U is" in error["message"]
