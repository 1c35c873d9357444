"""A container's page shows a clinic-level caller only the movements recorded at their own clinics: what
another clinic did with the container before it arrived (a dose for one of its patients, a correction whose
note may name her, who did it) collapses into one plain line. Chain-level roles see the whole history."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from tests.factories import NOW, draw, reverse, send_transfer, start_treatment

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

NYC_NOTE = "wrong syringe scanned for NYC-PATIENT-9"
DAY = dt.timedelta(days=1)


def _receive(session, user, transfer, at):
    clinic_transfers.receive(session, actor=user, scope=Scope.for_user(user), transfer_id=transfer.id, now=at)
    session.flush()


def _nyc_draws_and_corrects(world, syringe, at):
    """The New York nurse draws 0.1 mL for a New York patient and reverses it: the syringe is sealed again."""
    nurse = world.users["other_nurse"]
    treatment = start_treatment(world, "NYC-PATIENT-9", user=nurse, clinic=world.other_clinic, at=at)
    dose = draw(world, treatment, syringe, "0.1", unit="mL", area="lip", user=nurse, at=at)
    reverse(world, dose.draw, NYC_NOTE, user=nurse, at=at)


@pytest.fixture
def from_new_york(world, session):
    """A syringe received in New York, drawn from and corrected there, then sent to London and received."""
    syringe = world.container("filler", location=world.location("Fridge", world.other_clinic), now=NOW)
    _nyc_draws_and_corrects(world, syringe, NOW + DAY)
    nyc = world.nyc_manager()
    transfer = send_transfer(world, [syringe], user=nyc, to=world.location("Fridge"), at=NOW + 2 * DAY)
    _receive(session, world.users["clinic_manager"], transfer, NOW + 3 * DAY)
    return syringe, transfer


def history_rows(html: str) -> list[str]:
    """The History table's rows, as their cells' text joined by " | "."""
    body = html.split("<h2>History</h2>", 1)[1]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, flags=re.S)[1:]  # the header row first
    return [" | ".join(re.sub(r"<[^>]+>", "", cell).strip()
                       for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)) for row in rows]


def test_london_reads_one_plain_line_for_new_yorks_movements(browser_client, world, from_new_york):
    syringe, transfer = from_new_york
    response = browser_client("clinic_manager").get(f"/containers/{syringe.label_code}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200

    # Nothing of New York's record: not the dose, not the correction's note, not who did it.
    assert "wrong syringe scanned" not in html and "NYC-PATIENT-9" not in html
    assert world.users["other_nurse"].label not in html and world.nyc_manager().label not in html
    assert "reversal" not in html and "draw" not in html

    hidden, arrived = history_rows(html)
    # One line for New York's four movements (receipt, draw, reversal, sending), its balance what it left with.
    assert "4 earlier movements at NYC, not shown" in hidden
    assert "received there 15 Jun 2026, sent away 17 Jun 2026" in hidden
    assert hidden.split(" | ")[2:4] == ["0", "0"]  # change and balance: it left New York with nothing in it
    # London's own receipt in full, and its balance follows on from the line before it.
    assert "transfer in" in arrived and f"transfer {transfer.id} from NYC" in arrived
    assert arrived.split(" | ")[2:5] == ["0.55", "0.55", world.users["clinic_manager"].label]


@pytest.mark.parametrize("who", ["manager", "admin"])
def test_chain_level_roles_see_every_movement(browser_client, world, from_new_york, who):
    syringe, _ = from_new_york
    html = browser_client(who).get(f"/containers/{syringe.label_code}").get_data(as_text=True)
    rows = history_rows(html)
    assert len(rows) == 5 and "not shown" not in html
    assert NYC_NOTE in html and world.users["other_nurse"].label in html


def test_a_stretch_at_another_clinic_between_two_of_ours_is_one_line_in_its_place(browser_client, world, session):
    """London sends a syringe to New York, which uses and corrects it, then sends it back: London reads its own
    receipt and sending, one line for New York's stretch, then its own receipt again."""
    syringe = world.container("filler", now=NOW)
    there = send_transfer(world, [syringe], to=world.location("Fridge", world.other_clinic), at=NOW + DAY)
    nyc = world.nyc_manager()
    _receive(session, nyc, there, NOW + DAY)
    _nyc_draws_and_corrects(world, syringe, NOW + 2 * DAY)
    back = send_transfer(world, [syringe], user=nyc, to=world.location("Fridge"), at=NOW + 3 * DAY)
    _receive(session, world.users["clinic_manager"], back, NOW + 4 * DAY)

    html = browser_client("clinic_manager").get(f"/containers/{syringe.label_code}").get_data(as_text=True)
    rows = history_rows(html)
    assert [row.split(" | ")[1] for row in rows[:2]] == ["receive", "transfer out"]
    assert "4 earlier movements at NYC, not shown" in rows[2]
    assert "arrived there 16 Jun 2026, sent away 18 Jun 2026" in rows[2]
    assert rows[2].split(" | ")[2:4] == ["0", "0"]
    assert "transfer in" in rows[3] and len(rows) == 4
    assert "wrong syringe scanned" not in html
