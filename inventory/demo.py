"""Demo data: two clinics, the real products of DOMAIN.md with invented GTINs, stock, one user per role.

Running it twice changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from argon2 import PasswordHasher
from biip.checksums import gs1_standard_check_digit
from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.models import (
    Clinic,
    Container,
    ContainerState,
    GPrimeCategory,
    Location,
    LocationKind,
    Lot,
    LotStatus,
    Patient,
    Product,
    ProductForm,
    ProductGtin,
    ProductKind,
    Receipt,
    Role,
    User,
    utcnow,
)
from inventory.counterfeit import service as counterfeit
from inventory.counterfeit.models import Supplier
from inventory.kits.models import Kit, KitTemplate
from inventory.transfers.models import Transfer
from inventory.services import auth
from inventory.transfers import service as clinic_transfers
from inventory.cart import service as cart
from inventory.clinical import service as clinical
from inventory.kits import service as kits
from inventory.receiving import service as receiving
from inventory.transfers import moves as transfers
from inventory.services.clock import clinic_today
from inventory.services.permissions import Scope

LABEL = "product label / prescribing information"
SALINE = "preservative-free 0.9% sodium chloride"
# DOMAIN.md "Dose and interval checks": a toxin's result is reviewed at 10-21 days.
TOXIN_FOLLOW_UP_DAYS = 14
# The label dose limits of DOMAIN.md "Dose and interval checks", per product (they belong to its molecule).
BOTOX_LIMITS: dict[str, Any] = {
    "session_max_units": Decimal(64), "session_max_areas": "glabella,forehead,crows_feet_left,crows_feet_right",
    "cumulative_max_units": Decimal(400), "cumulative_window_days": 90,
}
DAXXIFY_LIMITS: dict[str, Any] = {"session_max_units": Decimal(40), "session_max_areas": "glabella",
                                  "retreat_interval_days": 90}
EVERY_3_MONTHS: dict[str, Any] = {"retreat_interval_days": 90}
FILLER_MOLECULES = {"HA": "hyaluronic acid", "CaHA": "calcium hydroxylapatite"}
# Who makes (or, for the regulator's report, holds the licence for) each demo brand: MedWatch and the Yellow Card
# ask for it. Dysport is made by Ipsen and sold for aesthetic use by Galderma in the US; in the UK and EU
# the aesthetic abobotulinumtoxinA brands are Galderma's Azzalure and Alluzience, also made by Ipsen.
MANUFACTURERS = {
    "Botox Cosmetic": "Allergan Aesthetics (AbbVie)",
    "Dysport": "Ipsen Biopharm (Galderma in the US for aesthetic use)",
    "Azzalure": "Galderma (made by Ipsen Biopharm)",
    "Alluzience": "Galderma (made by Ipsen Biopharm)",
    "Xeomin": "Merz Pharmaceuticals",
    "Jeuveau": "Evolus",
    "Daxxify": "Revance Therapeutics",
    "Letybo": "Hugel",
    "Juvederm": "Allergan Aesthetics (AbbVie)",
    "Restylane": "Galderma",
    "Radiesse": "Merz Aesthetics",
    "Hylenex": "Halozyme Therapeutics",
    "Amphadase": "Amphastar Pharmaceuticals",
    "Vitrase": "Bausch & Lomb",
    "Hyalase": "Wockhardt UK",
}


def demo_gtin(item: int) -> str:
    """An invented GTIN-14 under an invented company prefix, with a valid check digit."""
    body = f"0361234{item:06d}"
    return body + str(gs1_standard_check_digit(body))


def _toxin(n: int, name: str, brand: str, molecule: str, units: str, hours: int, storage: str, *,
           diluent_ml: str | None = None, per_ml: str | None = None, usual_max: str = "100", base_unit: str = "U",
           generic: str | None = None, label_source: str = LABEL, limits: dict[str, Any] | None = None) -> dict:
    """A powder reconstituted with ``diluent_ml`` of saline, or a ready-to-use liquid of ``per_ml`` units per mL.

    ``hours`` is the in-use time after reconstitution (or a liquid's first puncture); ``limits`` are
    the label's dose limits (``session_max_units`` ...).
    """
    powder = per_ml is None
    return dict(
        gtin=demo_gtin(n), name=name, brand=brand, manufacturer=MANUFACTURERS[brand], generic_name=generic or molecule,
        molecule=molecule,
        kind=ProductKind.NEUROMODULATOR, form=ProductForm.POWDER if powder else ProductForm.LIQUID, base_unit=base_unit,
        quantity_per_container=Decimal(units), storage=storage, requires_reconstitution=powder, beyond_use_hours=hours,
        labelled_diluent=SALINE if powder else None, labelled_diluent_ml=Decimal(diluent_ml) if diluent_ml else None,
        strength_per_ml=Decimal(per_ml) if per_ml else None, usual_max_units_per_session=Decimal(usual_max),
        follow_up_days=TOXIN_FOLLOW_UP_DAYS, label_source=label_source, **(limits or {}),
    )


def _filler(n: int, name: str, brand: str, ml: str, gprime: GPrimeCategory, lidocaine: bool,
            material: str = "HA", gprime_pa: int | None = None) -> dict:
    molecule = FILLER_MOLECULES[material]
    return dict(
        gtin=demo_gtin(n), name=name, brand=brand, manufacturer=MANUFACTURERS[brand],
        generic_name="hyaluronic acid 20 mg/mL" if material == "HA" else molecule,
        molecule=molecule, form=ProductForm.GEL, kind=ProductKind.FILLER, base_unit="mL",
        quantity_per_container=Decimal(ml), storage="up to 25 °C", gprime_category=gprime, gprime_pa=gprime_pa,
        has_lidocaine=lidocaine, material=material, label_source=LABEL,
    )


def _hyaluronidase(n: int, name: str, source: str, strength: str, per_container: str, unit: str,
                   storage: str, powder: bool = False, in_use_hours: int | None = None) -> dict:
    # DOMAIN.md "Hyaluronidase and emergency kits": every vial is single-dose. A powder is used within 6 hours
    # of its reconstitution; a liquid with an in-use time (Vitrase) within it from its first puncture.
    return dict(
        gtin=demo_gtin(n), name=name, brand=name.split()[0], manufacturer=MANUFACTURERS[name.split()[0]],
        generic_name="hyaluronidase", molecule="hyaluronidase",
        form=ProductForm.POWDER if powder else ProductForm.LIQUID, is_single_dose=True,
        kind=ProductKind.HYALURONIDASE, base_unit=unit, quantity_per_container=Decimal(per_container),
        storage=storage, hyaluronidase_source=source, strength_per_ml=Decimal(strength) if strength else None,
        requires_reconstitution=powder, beyond_use_hours=6 if powder else in_use_hours, label_source=LABEL,
    )


def _supply(n: int, name: str, each: str = "1") -> dict:
    # Generic demo items with no real maker: no manufacturer (the regulator's report says it is not on file).
    return dict(gtin=demo_gtin(n), name=name, brand=name.split()[0], manufacturer="", kind=ProductKind.SUPPLY,
                base_unit="each", quantity_per_container=Decimal(each), storage="room temperature",
                label_source="supplier")


PRODUCTS: list[dict] = [
    _toxin(1, "Botox Cosmetic 100 U", "Botox Cosmetic", "onabotulinumtoxinA", "100", 24, "2-8 °C", diluent_ml="2.5",
           usual_max="64", limits=BOTOX_LIMITS),
    _toxin(2, "Botox Cosmetic 50 U", "Botox Cosmetic", "onabotulinumtoxinA", "50", 24, "2-8 °C", diluent_ml="1.25",
           usual_max="64", limits=BOTOX_LIMITS),
    _toxin(3, "Dysport 300 U", "Dysport", "abobotulinumtoxinA", "300", 24, "2-8 °C", diluent_ml="2.5", usual_max="160"),
    _toxin(4, "Xeomin 100 U", "Xeomin", "incobotulinumtoxinA", "100", 24, "at or below 25 °C", diluent_ml="2.5",
           usual_max="64", limits=EVERY_3_MONTHS),
    _toxin(5, "Jeuveau 100 U", "Jeuveau", "prabotulinumtoxinA", "100", 24, "2-8 °C, do not freeze", diluent_ml="2.5",
           usual_max="64", limits=EVERY_3_MONTHS),
    _toxin(6, "Daxxify 100 U", "Daxxify", "daxibotulinumtoxinA", "100", 72, "room temperature", diluent_ml="1.2",
           usual_max="120", limits=DAXXIFY_LIMITS),
    _toxin(7, "Letybo 100 U", "Letybo", "letibotulinumtoxinA", "100", 24, "2-8 °C", diluent_ml="2.5", usual_max="64",
           limits=EVERY_3_MONTHS),
    _toxin(8, "Azzalure 125 s.U", "Azzalure", "abobotulinumtoxinA", "125", 24, "2-8 °C", diluent_ml="0.63",
           usual_max="125", base_unit="s.U", generic="abobotulinumtoxinA (Speywood units)"),
    _toxin(9, "Alluzience 125 s.U", "Alluzience", "abobotulinumtoxinA", "125", 24, "2-8 °C", per_ml="200",
           usual_max="125", base_unit="s.U", generic="abobotulinumtoxinA (Speywood units)",
           label_source=f"{LABEL} (EU); a ready-to-use solution: the in-use time starts at the first puncture"),
    _filler(20, "Juvederm Volbella XC 0.55 mL", "Juvederm", "0.55", GPrimeCategory.LOW, True, gprime_pa=271),
    _filler(21, "Juvederm Ultra XC 1.0 mL", "Juvederm", "1.0", GPrimeCategory.MEDIUM, True),
    _filler(22, "Juvederm Voluma XC 1.0 mL", "Juvederm", "1.0", GPrimeCategory.HIGH, True, gprime_pa=398),
    _filler(23, "Restylane Kysse 1.0 mL", "Restylane", "1.0", GPrimeCategory.MEDIUM, True),
    _filler(24, "Restylane Lyft 1.0 mL", "Restylane", "1.0", GPrimeCategory.HIGH, True),
    _filler(25, "Radiesse 1.5 mL", "Radiesse", "1.5", GPrimeCategory.HIGH, False, material="CaHA"),
    _hyaluronidase(40, "Hylenex recombinant 150 USP U/mL", "human recombinant", "150", "150", "USP U", "2-8 °C"),
    _hyaluronidase(41, "Amphadase 150 USP U/mL", "bovine", "150", "150", "USP U", "2-8 °C"),
    _hyaluronidase(42, "Vitrase 200 USP U/mL 2 mL", "ovine", "200", "400", "USP U", "2-8 °C", in_use_hours=6),
    _hyaluronidase(43, "Hyalase 1500 IU", "ovine", "", "1500", "IU", "below 25 °C", powder=True),
    _supply(60, "Syringe 1 mL Luer-lock"),
    _supply(61, "Needle 30 G 13 mm"),
    _supply(62, "Sodium chloride 0.9% 10 mL"),
    _supply(63, "Aspirin 300 mg"),
    _supply(64, "Warm compress"),
]

CLINICS = [
    ("LON", "Vialog Demo Clinic London", "Europe/London"),
    ("NYC", "Vialog Demo Clinic New York", "America/New_York"),
]
LOCATIONS = [
    ("Treatment room 1", LocationKind.ROOM),
    ("Treatment room 2", LocationKind.ROOM),
    ("Medicines fridge", LocationKind.FRIDGE),
    ("Treatment cart", LocationKind.CART),
    ("Store room", LocationKind.STORAGE),
]


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    description: str


DEMO_USERS = [
    # username, password, role, clinic code (None: chain level), description
    ("nurse", "nurse-demo-2026", Role.NURSE, "LON", "nurse at London: cart, scans, draws"),
    ("manager", "manager-demo-2026", Role.MANAGER, None, "chain manager: receiving, stock, exports"),
    ("safety", "safety-demo-2026", Role.SAFETY_LEAD, None, "chain safety lead: recalls, traces, kits"),
    ("admin", "admin-demo-2026", Role.ADMIN, None, "admin: everything, users, settings"),
    ("nurse-nyc", "nurse-nyc-demo-2026", Role.NURSE, "NYC", "nurse at New York"),
]

# product name, lot, months to expiry, containers, location name. Every lot number is invented (DOMAIN.md
# "Counterfeits": demo data never stocks a real alert lot such as Botox C3709C3); DEMO marks the toxins' and
# hyaluronidase's, whose real numbers share their shape.
STOCK = [
    ("Botox Cosmetic 100 U", "DEMOBTX01", 16, 6, "Medicines fridge"),
    ("Botox Cosmetic 100 U", "DEMOBTX02", 22, 4, "Medicines fridge"),
    ("Dysport 300 U", "DY2291", 12, 3, "Medicines fridge"),
    ("Xeomin 100 U", "XE77812", 20, 4, "Store room"),
    ("Daxxify 100 U", "DX30017", 14, 2, "Store room"),
    ("Juvederm Volbella XC 0.55 mL", "VB19A44", 18, 6, "Store room"),
    ("Juvederm Voluma XC 1.0 mL", "VM88B21", 15, 4, "Store room"),
    ("Restylane Kysse 1.0 mL", "RK5512", 13, 4, "Store room"),
    ("Hylenex recombinant 150 USP U/mL", "DEMOHYL01", 9, 10, "Medicines fridge"),
    ("Syringe 1 mL Luer-lock", "SY2026", 36, 20, "Store room"),
    ("Needle 30 G 13 mm", "ND2026", 36, 20, "Store room"),
    ("Sodium chloride 0.9% 10 mL", "NS5521", 24, 6, "Store room"),
    ("Hylenex recombinant 150 USP U/mL", "DEMOHYL02", 14, 10, "Medicines fridge"),
    ("Amphadase 150 USP U/mL", "AM41207", 11, 4, "Medicines fridge"),
    ("Aspirin 300 mg", "AS3021", 24, 6, "Store room"),
    ("Warm compress", "WC1188", 30, 3, "Store room"),
]

# The chain's suppliers (invented): receipts name the first; the last is not authorised (its deliveries are refused).
SUPPLIERS = [
    ("Northfield Medical Wholesale", "WDA(H) 90211", True),
    ("Clearwater Aesthetic Supplies", "WDA(H) 90377", True),
    ("Cheap Botox Online", None, False),
]
DEMO_SUPPLIER = SUPPLIERS[0][0]
# Authorising a supplier records why (counterfeit.add_supplier): the demo's reason says it is invented.
DEMO_AUTHORISATION = "Demo data: licence checked on the regulator's register (invented supplier)."
# A public counterfeit alert on the watch list (never stocked): DOMAIN.md "Counterfeits".
WATCHED = [("Botox Cosmetic 100 U", "C3709C3", "FDA counterfeit Botox alert, 2024")]

# The emergency kit of DOMAIN.md "Hyaluronidase and emergency kits".
KIT_TEMPLATE: dict[str, Any] = dict(
    name="Vascular occlusion kit",
    description="Everything for the first hour of a suspected vascular occlusion after filler: high-dose "
                "hyaluronidase, syringes and needles to give it, saline to reconstitute, aspirin and warm "
                "compresses. Keep one sealed in every room where filler is injected.",
    check_interval_days=7,
    warning_days=30,
)
KIT_REQUIREMENTS = [
    # label, product name or kind, minimum in base units, minimum days to expiry
    ("Hyaluronidase", ProductKind.HYALURONIDASE, "1500", 30),
    ("Syringes 1 mL", "Syringe 1 mL Luer-lock", "10", 0),
    ("Needles 30 G", "Needle 30 G 13 mm", "10", 0),
    ("Saline 10 mL", "Sodium chloride 0.9% 10 mL", "2", 0),
    ("Aspirin 300 mg", "Aspirin 300 mg", "2", 0),
    ("Warm compress", "Warm compress", "2", 0),
]
_KIT_SUPPLIES = [("Syringe 1 mL Luer-lock", 10, None), ("Needle 30 G 13 mm", 10, None),
                 ("Sodium chloride 0.9% 10 mL", 2, None), ("Aspirin 300 mg", 2, None)]
# clinic, kit (and its location's) name, what goes in: (product, containers, lot or None for soonest-expiring
# first), who checks it. Honest states: London room 1 is ready; New York's was stocked from a short-dated
# hyaluronidase lot (expiring soon); London room 2 is still being assembled (not ready: its Hylenex and
# Amphadase add up to the 1500 USP U needed, but a warm compress is missing).
DEMO_KITS = [
    ("LON", "Emergency kit (room 1)",
     [("Hylenex recombinant 150 USP U/mL", 10, "DEMOHYL01"), *_KIT_SUPPLIES, ("Warm compress", 2, None)], "nurse"),
    ("NYC", "Emergency kit (room 1)",
     [("Hylenex recombinant 150 USP U/mL", 10, "DEMOHYL03"), *_KIT_SUPPLIES, ("Warm compress", 2, None)],
     "nurse-nyc"),
    ("LON", "Emergency kit (room 2)",
     [("Hylenex recombinant 150 USP U/mL", 6, "DEMOHYL02"), ("Amphadase 150 USP U/mL", 4, None), *_KIT_SUPPLIES,
      ("Warm compress", 1, None)], "nurse"),
]
# A short-dated lot New York received for its kit: (clinic, product, lot, days to expiry, containers, location)
KIT_LOTS = [("NYC", "Hylenex recombinant 150 USP U/mL", "DEMOHYL03", 45, 10, "Medicines fridge")]
# One transfer on the road, so the transfers page shows one to receive: from, product, lot, vials, from/to location.
DEMO_TRANSFER = ("LON", "Xeomin 100 U", "XE77812", 2, "Store room", "NYC", "Store room",
                 "Two sealed Xeomin for New York's Saturday list; courier, one insulated box.")


def _months_ahead(today: dt.date, months: int) -> dt.date:
    year, month = divmod(today.month - 1 + months, 12)
    return dt.date(today.year + year, month + 1, 28)


def load(session: Session, hasher: PasswordHasher, now: dt.datetime | None = None) -> list[DemoLogin]:
    """Creates whatever part of the demo data is missing and returns the demo logins."""
    now = now or utcnow()
    clinics = {code: _clinic(session, code, name, tz) for code, name, tz in CLINICS}
    for spec in PRODUCTS:
        _product(session, spec)
    session.flush()

    logins = []
    for username, password, role, clinic_code, description in DEMO_USERS:
        if session.scalar(select(User).where(User.username == username)) is None:
            auth.create_user(
                session, hasher, username=username, password=password, role=role,
                clinics=[clinics[clinic_code]] if clinic_code else None, display_name=username.title(),
            )
        logins.append(DemoLogin(username, password, description))

    manager = session.scalar(select(User).where(User.username == "manager"))
    assert manager is not None
    supplier_id = _suppliers(session, manager, now)
    if session.scalar(select(Receipt.id).limit(1)) is None:
        for clinic in clinics.values():
            for product_name, lot, months, count, location_name in STOCK:
                product = session.scalar(select(Product).where(Product.name == product_name))
                location = session.scalar(
                    select(Location).where(Location.clinic_id == clinic.id, Location.name == location_name)
                )
                assert product is not None and location is not None
                receiving.receive(
                    session, actor=manager, scope=Scope.everything(), location_id=location.id, containers=count,
                    now=now, gtin=product.gtins[0].gtin, lot_number=lot,
                    expiry=_months_ahead(now.date(), months), supplier_id=supplier_id,
                )
    session.flush()
    _kits(session, clinics, manager, now)
    _transfer(session, clinics, manager, now)
    _history(session, clinics["LON"], manager, supplier_id, now)
    return logins


# Two London patients with a past, so the cart shows a patient record, the follow-ups page a review due,
# and a trace has patients to find. Their stock came in a delivery of its own, two months back:
# (product, invented lot, vials or syringes).
HISTORY_STOCK = [("Botox Cosmetic 100 U", "BX51H20", 2), ("Dysport 300 U", "DY51H22", 1),
                 ("Juvederm Volbella XC 0.55 mL", "VB51H21", 2)]
# patient reference, name, then treatments: (days ago, [(product, quantity, unit, area)])
HISTORY = [
    ("P-1001", "Amelia Hart", [(45, [("Botox Cosmetic 100 U", "12", "U", "glabella"),
                                     ("Botox Cosmetic 100 U", "8", "U", "forehead")]),
                               (12, [("Juvederm Volbella XC 0.55 mL", "0.5", "mL", "lip")])]),
    ("P-1002", "Omar Reyes", [(100, [("Dysport 300 U", "50", "U", "glabella")]),
                              (20, [("Botox Cosmetic 100 U", "20", "U", "glabella")])]),
]


def _history(session: Session, clinic: Clinic, manager: User, supplier_id: int, now: dt.datetime) -> None:
    """Past treatments recorded through the cart's own services, unless any patient exists already."""
    if session.scalar(select(Patient.id).limit(1)) is not None:
        return
    everything = Scope.everything()
    nurse = session.scalar(select(User).where(User.username == "nurse"))
    fridge = session.scalar(select(Location).where(Location.clinic_id == clinic.id, Location.name == "Medicines fridge"))
    room = session.scalar(select(Location).where(Location.clinic_id == clinic.id, Location.name == "Treatment room 1"))
    if nurse is None or fridge is None or room is None:
        return  # the demo was changed by hand
    delivered = now - dt.timedelta(days=110)
    stock: dict[str, list[Container]] = {}
    for product_name, lot, count in HISTORY_STOCK:
        product = session.scalar(select(Product).where(Product.name == product_name))
        assert product is not None
        receipt = receiving.receive(session, actor=manager, scope=everything, location_id=fridge.id,
                                    containers=count, now=delivered, gtin=product.gtins[0].gtin, lot_number=lot,
                                    expiry=_months_ahead(now.date(), 14), supplier_id=supplier_id)
        stock[product_name] = list(receipt.containers)
    visits = sorted(((days, ref, name, doses) for ref, name, visits_ in HISTORY for days, doses in visits_),
                    reverse=True)  # oldest first, as they happened
    for days, ref, name, doses in visits:
        at = now - dt.timedelta(days=days)
        patient = cart.find_or_create_patient(session, scope=everything, clinic_id=clinic.id, external_ref=ref,
                                              name=name)
        treatment = cart.start_treatment(session, actor=nurse, scope=everything, patient_id=patient.id,
                                         location_id=room.id, now=at)
        opened: dict[str, Container] = {}
        for product_name, quantity, unit, area in doses:
            container = opened.get(product_name)
            if container is None:
                container = opened[product_name] = stock[product_name].pop(0)
                if container.product.requires_reconstitution:
                    cart.reconstitute(session, actor=nurse, scope=everything, container_id=container.id,
                                      diluent_ml=container.product.labelled_diluent_ml or Decimal("2.5"), now=at)
            cart.draw(session, actor=nurse, scope=everything, treatment_id=treatment.id, container_id=container.id,
                      quantity=Decimal(quantity), unit=unit, area=area, now=at + dt.timedelta(minutes=5))
        cart.close_treatment(session, actor=nurse, scope=everything, treatment_id=treatment.id,
                             now=at + dt.timedelta(minutes=30))
        # Reviews long past were done; the latest stays on the follow-ups page.
        if treatment.follow_up_on is not None and treatment.follow_up_on < now.date() - dt.timedelta(days=7):
            clinical.complete_follow_up(session, actor=nurse, scope=everything, treatment_id=treatment.id,
                                        now=dt.datetime.combine(treatment.follow_up_on, dt.time(10), dt.UTC))
    session.flush()


def _suppliers(session: Session, manager: User, now: dt.datetime) -> int:
    """The demo suppliers and watch list, unless there are suppliers already; the id receipts name."""
    if session.scalar(select(Supplier.id).limit(1)) is None:
        for name, licence, authorised in SUPPLIERS:
            counterfeit.add_supplier(session, actor=manager, name=name, licence=licence, authorised=authorised,
                                     reason=DEMO_AUTHORISATION if authorised else None, now=now)
        safety = session.scalar(select(User).where(User.role == Role.SAFETY_LEAD)) or manager
        for product_name, number, source in WATCHED:
            product_id = session.scalar(select(Product.id).where(Product.name == product_name))
            assert product_id is not None
            counterfeit.watch(session, actor=safety, product_id=product_id, lot_number=number, source=source, now=now)
    supplier_id = session.scalar(select(Supplier.id).where(Supplier.name == DEMO_SUPPLIER))
    assert supplier_id is not None
    return supplier_id


def _transfer(session: Session, clinics: dict[str, Clinic], manager: User, now: dt.datetime) -> None:
    """The demo transfer, sent through the service, unless any transfer exists already."""
    if session.scalar(select(Transfer.id).limit(1)) is not None:
        return
    source, product_name, lot, count, from_name, destination, to_name, note = DEMO_TRANSFER
    vials = session.scalars(
        select(Container.id).join(Container.lot).join(Container.product).join(Container.location)
        .where(Container.clinic_id == clinics[source].id, Product.name == product_name, Lot.number == lot,
               Location.name == from_name, Container.state == ContainerState.SEALED)
        .order_by(Container.id).limit(count)
    ).all()
    to = session.scalar(select(Location).where(Location.clinic_id == clinics[destination].id, Location.name == to_name))
    if not vials or to is None:
        return  # the demo stock was changed by hand: nothing sensible to send
    clinic_transfers.send(session, actor=manager, scope=Scope.everything(), container_ids=list(vials),
                          to_location_id=to.id, now=now, note=note)


def _kits(session: Session, clinics: dict[str, Clinic], manager: User, now: dt.datetime) -> None:
    """The kit template, and each demo kit stocked through the ledger and checked once, if missing."""
    template = session.scalar(select(KitTemplate).where(KitTemplate.name == KIT_TEMPLATE["name"]))
    if template is None:
        requirements = []
        for label, what, minimum, min_days in KIT_REQUIREMENTS:
            by_kind = isinstance(what, ProductKind)
            product = None if by_kind else session.scalar(select(Product).where(Product.name == what))
            requirements.append(kits.RequirementSpec(
                label=label, min_quantity=Decimal(minimum), product_id=product.id if product else None,
                product_kind=what if isinstance(what, ProductKind) else None, min_days_to_expiry=min_days,
            ))
        template = kits.create_template(session, **KIT_TEMPLATE, requirements=requirements)
    everything = Scope.everything()
    lot: str | None  # a KIT_LOTS lot, then a kit content's (None: soonest-expiring first)
    for clinic_code, name, contents, checker in DEMO_KITS:
        clinic = clinics[clinic_code]
        location = session.scalar(select(Location).where(Location.clinic_id == clinic.id, Location.name == name))
        if location is None:
            location = Location(clinic_id=clinic.id, name=name, kind=LocationKind.KIT)
            session.add(location)
            session.flush()
        if session.scalar(select(Kit.id).where(Kit.location_id == location.id)) is not None:
            continue
        kit = kits.create_kit(session, scope=everything, template_id=template.id, name=name, location_id=location.id)
        for lot_clinic, product_name, lot, days, count, location_name in KIT_LOTS:
            if lot_clinic == clinic_code and any(lot == wanted for _, _, wanted in contents):
                expiry = clinic_today(now, clinic.timezone) + dt.timedelta(days=days)
                _receive_kit_lot(session, clinic, manager, product_name, lot, expiry, count, location_name, now)
        for product_name, count, lot in contents:
            for container_id in _containers_for_kit(session, clinic, product_name, lot, count):
                transfers.move_container(session, actor=manager, scope=everything, container_id=container_id,
                                         to_location_id=location.id, now=now, reason="kit restock",
                                         note=f"into kit {name}")
        nurse = session.scalar(select(User).where(User.username == checker))
        if nurse is not None:
            kits.record_check(session, actor=nurse, scope=everything, kit_id=kit.id, seal_intact=True,
                              notes="First check after stocking.", now=now)
    session.flush()


def _receive_kit_lot(session: Session, clinic: Clinic, manager: User, product_name: str, lot: str,
                     expiry: dt.date, count: int, location_name: str, now: dt.datetime) -> None:
    product = session.scalar(select(Product).where(Product.name == product_name))
    location = session.scalar(select(Location).where(Location.clinic_id == clinic.id, Location.name == location_name))
    assert product is not None and location is not None
    if session.scalar(select(Lot.id).where(Lot.product_id == product.id, Lot.number == lot)) is not None:
        return
    supplier_id = session.scalar(select(Supplier.id).where(Supplier.name == DEMO_SUPPLIER))
    receiving.receive(session, actor=manager, scope=Scope.everything(), location_id=location.id, containers=count,
                      now=now, gtin=product.gtins[0].gtin, lot_number=lot, expiry=expiry, supplier_id=supplier_id)


def _containers_for_kit(session: Session, clinic: Clinic, product_name: str, lot: str | None, count: int) -> list[int]:
    """Up to ``count`` usable containers outside any kit, soonest expiry first (or of one lot)."""
    stmt = (
        select(Container.id)
        .join(Container.lot).join(Container.product).join(Container.location)
        .where(
            Container.clinic_id == clinic.id, Product.name == product_name, Location.kind != LocationKind.KIT,
            Container.state == ContainerState.SEALED, Lot.status == LotStatus.ACTIVE,
        )
        .order_by(Lot.expiry, Container.id)
        .limit(count)
    )
    if lot is not None:
        stmt = stmt.where(Lot.number == lot)
    return list(session.scalars(stmt))


def _clinic(session: Session, code: str, name: str, timezone: str) -> Clinic:
    clinic = session.scalar(select(Clinic).where(Clinic.code == code))
    if clinic is None:
        clinic = Clinic(code=code, name=name, timezone=timezone)
        session.add(clinic)
        session.flush()
        for location_name, kind in LOCATIONS:
            session.add(Location(clinic_id=clinic.id, name=location_name, kind=kind,
                                 temperature_sensitive=kind is LocationKind.FRIDGE))
    return clinic


def _product(session: Session, spec: dict) -> Product:
    spec = dict(spec)
    gtin = spec.pop("gtin")
    product = session.scalar(select(Product).where(Product.name == spec["name"]))
    if product is None:
        product = Product(**spec, gtins=[ProductGtin(gtin=gtin)])
        session.add(product)
    elif not product.manufacturer and spec["manufacturer"]:
        # A demo loaded before the catalog named manufacturers gets them; one set by hand is kept.
        product.manufacturer = spec["manufacturer"]
    return product
