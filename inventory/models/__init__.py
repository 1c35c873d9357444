"""All models, imported here so that the metadata is complete for Alembic and tests."""

from inventory.models.audit import AuditEvent, IdempotencyRecord
from inventory.models.base import Base, utcnow
from inventory.models.catalog import GPrimeCategory, Product, ProductGtin, ProductKind
from inventory.models.clinic import Clinic, Location, LocationKind
from inventory.models.kits import Kit, KitCheck, KitRequirement, KitStatus, KitTemplate
from inventory.models.stock import Container, ContainerState, Lot, LotStatus, Movement, MovementKind, Receipt
from inventory.models.treatment import Draw, Patient, Treatment
from inventory.models.user import ApiToken, Role, User, user_clinics

__all__ = [
    "ApiToken", "AuditEvent", "Base", "Clinic", "Container", "ContainerState", "Draw", "GPrimeCategory",
    "IdempotencyRecord", "Kit", "KitCheck", "KitRequirement", "KitStatus", "KitTemplate", "Location",
    "LocationKind", "Lot", "LotStatus", "Movement", "MovementKind",
    "Patient", "Product", "ProductGtin", "ProductKind", "Receipt", "Role", "Treatment", "User",
    "user_clinics", "utcnow",
]

