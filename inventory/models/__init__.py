"""All models, imported here so that the metadata is complete for Alembic and tests."""

from inventory.models.audit import AuditEvent, IdempotencyRecord
from inventory.models.base import Base, utcnow
from inventory.models.catalog import GPrimeCategory, Product, ProductForm, ProductGtin, ProductKind
from inventory.models.clinic import Clinic, Location, LocationKind
from inventory.models.counts import Count, CountLine, CountStatus
from inventory.models.dosing import DoseRange
from inventory.models.kits import Kit, KitCheck, KitRequirement, KitStatus, KitTemplate
from inventory.models.security import LoginFailure
from inventory.models.stock import Container, ContainerState, Lot, LotStatus, Movement, MovementKind, Receipt
from inventory.models.transfers import Transfer, TransferItem, TransferStatus
from inventory.models.treatment import Draw, Patient, Treatment
from inventory.models.user import ApiToken, Role, User, user_clinics

__all__ = [
    "ApiToken", "AuditEvent", "Base", "Clinic", "Container", "ContainerState", "Count", "CountLine", "CountStatus",
    "DoseRange", "Draw", "GPrimeCategory",
    "IdempotencyRecord", "Kit", "KitCheck", "KitRequirement", "KitStatus", "KitTemplate", "Location",
    "LocationKind", "LoginFailure", "Lot", "LotStatus", "Movement", "MovementKind",
    "Patient", "Product", "ProductForm", "ProductGtin", "ProductKind", "Receipt", "Role", "Transfer", "TransferItem",
    "TransferStatus", "Treatment", "User",
    "user_clinics", "utcnow",
]

# Recall cases live in the recall package; imported here so Alembic and tests see their tables.
import recall.models  # noqa: E402,F401
