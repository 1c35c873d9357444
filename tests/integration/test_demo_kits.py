"""The demo's emergency kits: stocked through the ledger, checked, all three colours, safe to load twice."""

from __future__ import annotations

from sqlalchemy import func, select

from inventory.models import Movement
from inventory.kits.models import Kit, KitCheck, KitStatus
from inventory import demo
from inventory.services import ledger
from inventory.kits import service as kits
from inventory.services.permissions import Scope
from tests.factories import HASHER, NOW


def test_the_demo_kits_show_ready_expiring_soon_and_not_ready_and_load_twice(session):
    demo.load(session, HASHER, now=NOW)
    board = {(k.clinic_code, k.name): k for k in kits.readiness(session, scope=Scope.everything(), now=NOW)}
    assert {key: k.status for key, k in board.items()} == {
        ("LON", "Emergency kit (room 1)"): KitStatus.READY,
        ("LON", "Emergency kit (room 2)"): KitStatus.NOT_READY,
        ("NYC", "Emergency kit (room 1)"): KitStatus.EXPIRING_SOON,
    }
    # 6 Hylenex + 4 Amphadase vials are 1500 USP U (USP units add up across products); a compress is missing.
    room_2 = board[("LON", "Emergency kit (room 2)")]
    assert [r.text for r in room_2.reasons] == ["Warm compress: 1 each of 2 each"]
    assert [(line.have, line.product) for line in room_2.lines if line.label == "Hyaluronidase"] == [
        (1500, "Amphadase 150 USP U/mL + Hylenex recombinant 150 USP U/mL")]
    (expiring,) = board[("NYC", "Emergency kit (room 1)")].reasons
    assert expiring.text.startswith("Hylenex recombinant 150 USP U/mL lot DEMOHYL03 expires in 45 days")
    assert ledger.find_balance_mismatches(session) == []

    counts = [session.scalar(select(func.count()).select_from(model)) for model in (Kit, KitCheck, Movement)]
    demo.load(session, HASHER, now=NOW)
    assert [session.scalar(select(func.count()).select_from(model)) for model in (Kit, KitCheck, Movement)] == counts
