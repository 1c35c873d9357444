"""The product catalog: what a clinic can hold, with each kind's label facts."""

from __future__ import annotations

import enum
import unicodedata
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from inventory.models.base import Base, Quantity, created_at, intpk, str_enum


class ProductKind(enum.StrEnum):
    NEUROMODULATOR = "neuromodulator"
    FILLER = "filler"
    HYALURONIDASE = "hyaluronidase"
    SUPPLY = "supply"


class ProductForm(enum.StrEnum):
    """What is in the container: a powder to reconstitute, a ready-to-use liquid, or a gel (fillers)."""

    POWDER = "powder"
    LIQUID = "liquid"
    GEL = "gel"


class GPrimeCategory(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


PRODUCT_NAME_KEY_LENGTH = 480

# DOMAIN.md: a filler syringe and every hyaluronidase vial ("All these vials are single-dose") belong to one patient
# by nature, whatever the catalog row says: no admin may make them shareable (inventory/admin/service.py refuses it).
ALWAYS_SINGLE_PATIENT_KINDS = frozenset({ProductKind.FILLER, ProductKind.HYALURONIDASE})


def opened_for_one_patient(kind: ProductKind, *, is_single_dose: bool, is_multi_patient: bool) -> bool:
    """The rule behind ``Product.is_single_patient``, for a product's facts wherever they are held (the bench's
    bulk history holds them as plain values)."""
    # Single-dose wins over a sharing flag (the catalog refuses both at once; a row from before may hold them):
    # the draw for another patient is refused, and the remainder is wasted when the treatment closes. So does
    # the kind: a hyaluronidase row whose single-dose mark was taken off before the rule still serves one patient.
    if kind in ALWAYS_SINGLE_PATIENT_KINDS or is_single_dose:
        return True
    if kind is ProductKind.SUPPLY:
        return False
    return not is_multi_patient


def product_name_key(name: str) -> str:
    """A product name as names are compared: case, spaces and full-width forms set aside ("botox cosmetic 100U" is
    "Botox Cosmetic 100 U"). Two entries for one product would split its stock, lots and history. Migration 0025
    keeps a frozen copy of this function: change both, and re-key the table, or never. Pure."""
    return "".join(unicodedata.normalize("NFKC", name).casefold().split())


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("quantity_per_container > 0", name="positive_quantity"),
        # A toxin has an in-use time whether it is a powder or a ready-to-use liquid (Alluzience).
        CheckConstraint("kind <> 'neuromodulator' OR beyond_use_hours IS NOT NULL", name="toxin_facts"),
        # NULL: no form stated (supplies).
        CheckConstraint("form IS NULL OR (form = 'powder') = requires_reconstitution", name="powder_is_reconstituted"),
        CheckConstraint(
            "(cumulative_max_units IS NULL) = (cumulative_window_days IS NULL)", name="cumulative_limit_has_window"
        ),
        # Each limit is NULL (none) or positive: a NULL term leaves the conjunction NULL, which a CHECK passes.
        CheckConstraint(
            "session_max_units > 0 AND cumulative_max_units > 0 AND cumulative_window_days > 0 "
            "AND retreat_interval_days > 0 AND follow_up_days > 0",
            name="positive_dose_limits",
        ),
    )

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(120), unique=True, comment="e.g. 'Botox Cosmetic 100 U'")
    # Set with the name (the validator below; the default for a Core INSERT): unique, so no two products read alike.
    name_key: Mapped[str] = mapped_column(
        String(PRODUCT_NAME_KEY_LENGTH), unique=True, index=True,
        default=lambda context: product_name_key(context.get_current_parameters()["name"]),
        comment="product_name_key(name): unique, so no two products' names differ only in case or spaces",
    )
    brand: Mapped[str] = mapped_column(String(80))
    generic_name: Mapped[str] = mapped_column(String(120), default="")
    manufacturer: Mapped[str] = mapped_column(String(120), default="")
    kind: Mapped[ProductKind] = mapped_column(str_enum(ProductKind, "product_kind"), index=True)
    base_unit: Mapped[str] = mapped_column(
        String(16), comment="U (brand units), mL, USP U, IU or each; never converted across products"
    )
    quantity_per_container: Mapped[Decimal] = mapped_column(Quantity())
    storage: Mapped[str] = mapped_column(String(120), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    molecule: Mapped[str | None] = mapped_column(
        String(60), comment="e.g. 'onabotulinumtoxinA': doses add up, and are limited, per molecule across products"
    )
    form: Mapped[ProductForm | None] = mapped_column(
        str_enum(ProductForm, "product_form"), comment="powder, liquid or gel; NULL for supplies"
    )
    is_single_dose: Mapped[bool] = mapped_column(
        default=False, server_default=false(), comment="the label's single-dose vial: one patient, one session"
    )

    # Vials of powder (toxins, Sculptra, Hyalase) are reconstituted before any draw.
    requires_reconstitution: Mapped[bool] = mapped_column(default=False)
    beyond_use_hours: Mapped[int | None] = mapped_column(
        comment="usable hours after reconstitution, or after first puncture of a ready-to-use liquid"
    )
    labelled_diluent: Mapped[str | None] = mapped_column(String(120))
    labelled_diluent_ml: Mapped[Decimal | None] = mapped_column(Quantity())
    is_multi_patient: Mapped[bool] = mapped_column(
        default=False, comment="admin allowed sharing a reconstituted vial between patients"
    )
    usual_max_units_per_session: Mapped[Decimal | None] = mapped_column(
        Quantity(), comment="a patient total above this draws a warning, not a refusal"
    )

    # The label's dose limits for the molecule (inventory/dosing.py): passing one needs a confirmation.
    session_max_units: Mapped[Decimal | None] = mapped_column(
        Quantity(), comment="the label's maximum in one session, over session_max_areas"
    )
    session_max_areas: Mapped[str | None] = mapped_column(
        String(300), comment="comma-separated area codes the session maximum covers; empty: all areas"
    )
    cumulative_max_units: Mapped[Decimal | None] = mapped_column(
        Quantity(), comment="the label's maximum over any cumulative_window_days"
    )
    cumulative_window_days: Mapped[int | None] = mapped_column(comment="the window of cumulative_max_units")
    retreat_interval_days: Mapped[int | None] = mapped_column(
        comment="the label's shortest interval between two treatments with the molecule"
    )
    follow_up_days: Mapped[int | None] = mapped_column(
        comment="default follow-up after a treatment with this product, e.g. 14 for toxins"
    )

    gprime_category: Mapped[GPrimeCategory | None] = mapped_column(str_enum(GPrimeCategory, "gprime_category"))
    gprime_pa: Mapped[int | None] = mapped_column(comment="measured G' in Pa, where published")
    has_lidocaine: Mapped[bool | None]
    material: Mapped[str | None] = mapped_column(String(40), comment="HA, CaHA, PLLA ...")

    hyaluronidase_source: Mapped[str | None] = mapped_column(String(40))
    strength_per_ml: Mapped[Decimal | None] = mapped_column(Quantity())
    volume_ml: Mapped[Decimal | None] = mapped_column(
        Quantity(), comment="mL in one container of a liquid or gel (a 1 mL syringe, a 2 mL vial)"
    )

    label_source: Mapped[str] = mapped_column(Text, default="", comment="where the label facts come from")
    created_at: Mapped[created_at]

    gtins: Mapped[list[ProductGtin]] = relationship(
        back_populates="product", cascade="all, delete-orphan", order_by="ProductGtin.gtin"
    )

    @validates("name")
    def _keep_name_key(self, _name: str, name: str) -> str:
        # Whoever sets a name (a new product, a rename) sets its key with it: the two never disagree.
        self.name_key = product_name_key(name)
        return name

    @property
    def is_toxin(self) -> bool:
        return self.kind is ProductKind.NEUROMODULATOR

    @property
    def is_always_single_patient(self) -> bool:
        """Whether the product's kind makes an opened container one patient's, whatever an admin sets (DOMAIN.md:
        fillers, and hyaluronidase, whose every vial is single-dose)."""
        return self.kind in ALWAYS_SINGLE_PATIENT_KINDS

    @property
    def is_single_patient(self) -> bool:
        """Whether an opened container belongs to one patient (DOMAIN.md): fillers, every hyaluronidase and any
        single-dose vial always; any other medicine (a toxin, powder or ready-to-use liquid) unless an admin allowed
        sharing it. A supply is nobody's."""
        return opened_for_one_patient(self.kind, is_single_dose=self.is_single_dose,
                                      is_multi_patient=self.is_multi_patient)


class ProductGtin(Base):
    __tablename__ = "product_gtins"

    id: Mapped[intpk]
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    gtin: Mapped[str] = mapped_column(String(14), unique=True, comment="always 14 digits")

    product: Mapped[Product] = relationship(back_populates="gtins")
