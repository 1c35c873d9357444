"""The core models: catalog, clinics, stock and its ledger, treatments, users and the audit trail.

Each feature package (kits, counts, transfers, recall, ...) keeps its own models beside its service and
registers them when the app loads it (``inventory.features``), so the metadata is complete for Alembic
and tests once ``create_app`` has run. The core never imports a feature.
"""

from inventory.models.audit import AuditEvent, IdempotencyRecord
from inventory.models.base import Base, utcnow
from inventory.models.catalog import GPrimeCategory, Product, ProductForm, ProductGtin, ProductKind
from inventory.models.clinic import Clinic, Location, LocationKind
from inventory.models.dosing import DoseRange
from inventory.models.security import LoginFailure
from inventory.models.stock import Container, ContainerState, Lot, LotStatus, Movement, MovementKind, Receipt
from inventory.models.treatment import Draw, Patient, Treatment
from inventory.models.user import ApiToken, Role, User, user_clinics

__all__ = [
    "ApiToken", "AuditEvent", "Base", "Clinic", "Container", "ContainerState", "DoseRange", "Draw", "GPrimeCategory",
    "IdempotencyRecord", "Location", "LocationKind", "LoginFailure", "Lot", "LotStatus", "Movement", "MovementKind",
    "Patient", "Product", "ProductForm", "ProductGtin", "ProductKind", "Receipt", "Role", "Treatment", "User",
    "user_clinics", "utcnow",
]
