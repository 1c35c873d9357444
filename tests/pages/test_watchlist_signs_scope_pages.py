"""A clinic-level safety lead reads on the watch list page only the signs seen at her clinics, and the lots the
watch list quarantined at every clinic: who scanned what at another clinic is that clinic's and the chain's."""

from __future__ import annotations

from inventory.models import Role, utcnow
from inventory.services import lot_guard


def test_a_clinic_level_safety_lead_reads_her_clinics_signs_and_the_chains_quarantines(browser_client, world,
                                                                                        session):
    nyc_lead = world._extra_user("nyc_safety", "nyc-safety", Role.SAFETY_LEAD, world.other_clinic)
    now = utcnow()
    for clinic_id, lot in ((world.clinic.id, "LONDON-SEEN"), (world.other_clinic.id, "NEWYORK-SEEN"), (None, "NOWHERE")):
        lot_guard.record_sign(session, actor_id=world.users["nurse"].id, clinic_id=clinic_id,
                              action="lot.flagged_suspect", details={"lot_number": lot, "product": "Botox"}, now=now)
    lot_guard.record_sign(session, actor_id=world.users["safety"].id, clinic_id=None, action="lot.watch_quarantined",
                          details={"lot_number": "CHAINWIDE", "product": "Botox"}, now=now)
    session.flush()

    client = browser_client("nyc_safety")
    html = client.get("/watchlist").get_data(as_text=True)
    assert "NEWYORK-SEEN" in html and "CHAINWIDE" in html
    assert "LONDON-SEEN" not in html and "NOWHERE" not in html
    chain = browser_client("safety").get("/watchlist").get_data(as_text=True)
    assert all(lot in chain for lot in ("LONDON-SEEN", "NEWYORK-SEEN", "NOWHERE", "CHAINWIDE"))
    assert nyc_lead.clinics == [world.other_clinic]
