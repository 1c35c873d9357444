"""Histories for the recall tests, built through the real services (receiving, the cart).

The cart's operations live in tests/factories.py; here only the recall histories' habit: unless a test names
the injector, the chain safety lead treats and gives the doses, one user who may act at both clinics.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from inventory.models import Container, Draw, Patient, Treatment, User
from tests import factories
from tests.factories import NOW, World, patient, reconstitute

MINUTE = dt.timedelta(minutes=1)


def share_toxins(world: World) -> None:
    """Lets one reconstituted toxin vial serve several patients (an admin's per-product choice)."""
    for key in ("botox", "dysport", "daxxify"):
        world.products[key].is_multi_patient = True
    world.session.flush()


def treat(world: World, who: Patient, *, injector: User | None = None, at: dt.datetime = NOW) -> Treatment:
    return factories.start_treatment(world, who, user=injector or "safety", at=at)


def give(world: World, treatment: Treatment, container: Container, quantity: str = "4", *, unit: str | None = None,
         area: str = "glabella", at: dt.datetime = NOW, injector: User | None = None) -> Draw:
    """A dose, in the container's own unit unless ``unit`` says otherwise (U for a product counted in units)."""
    unit = unit or ("mL" if container.product.base_unit == "mL" else "U")
    return factories.draw(world, treatment, container, quantity, unit, area=area, user=injector or "safety",
                          at=at).draw


def reverse(world: World, draw: Draw, *, at: dt.datetime = NOW) -> None:
    factories.reverse(world, draw, "scanned the wrong vial", user="safety", at=at)


@dataclass
class History:
    """A generated history: lots, containers and treatments across two clinics, some draws reversed."""

    lots: dict[str, int] = field(default_factory=dict)  # name -> lot id
    draws: list[Draw] = field(default_factory=list)
    reversed_draw_ids: set[int] = field(default_factory=set)
    patients: list[Patient] = field(default_factory=list)


def build_history(world: World, *, patients: int = 40, seed: int = 7) -> History:
    """Toxin vials shared between patients and single-patient filler syringes, at LON and NYC.

    Botox lot C3709C3 and Dysport lot C3709C3 share a number; Botox C4120A1 is only at
    London. About one draw in six is reversed.
    """
    rng = random.Random(seed)
    share_toxins(world)
    history = History()
    lon, nyc = world.clinic, world.other_clinic
    botox_lon = world.receive("botox", lot="C3709C3", containers=3, location=world.location("Fridge", lon)).containers
    botox_nyc = world.receive("botox", lot="C3709C3", containers=2, location=world.location("Fridge", nyc)).containers
    other_lon = world.receive("botox", lot="C4120A1", containers=2).containers
    dysport = world.receive("dysport", lot="C3709C3", containers=2, location=world.location("Fridge", nyc)).containers
    fillers = world.receive("filler", lot="VB19A44", containers=patients).containers
    for c in [*botox_lon[:2], botox_nyc[0], other_lon[0], dysport[0]]:
        reconstitute(world, c)
    history.lots = {"botox": botox_lon[0].lot_id, "botox_other": other_lon[0].lot_id, "dysport": dysport[0].lot_id,
                    "filler": fillers[0].lot_id}
    open_vials = {lon.id: [botox_lon[0], botox_lon[1], other_lon[0]], nyc.id: [botox_nyc[0], dysport[0]]}
    free_fillers = [c for c in fillers]

    for n in range(patients):
        clinic = lon if n % 3 else nyc
        who = patient(world, f"H-{n:03d}", clinic=clinic)
        history.patients.append(who)
        at = NOW + n * MINUTE
        injector = world.users["nurse" if clinic is lon else "other_nurse"]
        treatment = treat(world, who, at=at, injector=injector)
        for _ in range(rng.randint(1, 3)):
            vial = rng.choice(open_vials[clinic.id])
            if vial.remaining < 6:
                continue
            draw = give(world, treatment, vial, str(rng.choice([2, 4, 6])), area=rng.choice(["glabella", "forehead"]),
                        at=at, injector=injector)
            history.draws.append(draw)
            if rng.random() < 1 / 6:
                reverse(world, draw, at=at)
                history.reversed_draw_ids.add(draw.id)
        if clinic is lon and rng.random() < 0.5:
            draw = give(world, treatment, free_fillers.pop(), "0.5", area="lip", at=at, injector=injector)
            history.draws.append(draw)
    world.session.flush()
    return history
