"""Domain errors, and the one catalogue of error codes.

Services raise these without knowing about HTTP. Each carries a stable machine
``code`` (the API's error codes, see API.md), a message a nurse understands, the
HTTP status the API answers with, and ``details`` for machines. Pages, the API and
the command line show the same error the same way.

A feature defines its own errors beside its service (a recall's ``recall_closed``);
every subclass that names a code enters :data:`CATALOGUE`, where a code has one
status. The API documentation and its test read the catalogue.
"""

from __future__ import annotations

from typing import Any, ClassVar

# code -> the first class that answers with it (a code may be raised by several, with one status).
CATALOGUE: dict[str, type[DomainError]] = {}


class DomainError(Exception):
    """A rule or a look-up refused the request; nothing was changed."""

    code: ClassVar[str] = "domain_error"
    status: ClassVar[int] = 409

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            return  # a family (ScanError), not an answer of its own
        known = CATALOGUE.get(cls.code)
        if known is not None and known.status != cls.status:
            raise TypeError(f"error code {cls.code!r} answers {known.status} already, not {cls.status}")
        CATALOGUE.setdefault(cls.code, cls)

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class ValidationError(DomainError):
    """A value the rules refuse. Its details have one shape, whatever refused it (a rule here or the request
    schema, inventory/blueprints/api/core.py): ``field``, the first field at fault ("body" when the request as
    a whole is), and ``fields``, each field at fault with its problem. A subclass given a code of its
    own keeps the details it gives."""

    code = "validation_error"
    status = 422

    def __init__(self, message: str, **details: Any) -> None:
        if self.code == ValidationError.code:  # a subclass with a code of its own keeps its own details
            details.setdefault("field", "body")
            details.setdefault("fields", [{"field": details["field"], "problem": message}])
        super().__init__(message, **details)


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401


# --- scanning -------------------------------------------------------------


class ScanError(DomainError):
    """A scanned or typed code could not be turned into a product or container."""

    status = 422


class UnreadableCode(ScanError):
    code = "unreadable_code"


class SeparatorLost(ScanError):
    """A GS1 string whose lot ran into the element after it: which part is the lot is not known."""

    code = "separator_lost"
    status = 409


class BadCheckDigit(ScanError):
    code = "bad_check_digit"


class UnknownProduct(ScanError):
    code = "unknown_product"
    status = 404


class UnknownContainer(ScanError):
    code = "unknown_container"
    status = 404


# --- lots and containers ----------------------------------------------------


class LotNotUsable(DomainError):
    status = 409


class LotExpired(LotNotUsable):
    code = "lot_expired"


class LotQuarantined(LotNotUsable):
    code = "lot_quarantined"


class LotRecalled(LotNotUsable):
    code = "lot_recalled"


class LotSuspect(DomainError):
    """The lot number is on the counterfeit watch list: do not receive or use it; tell the safety lead."""

    code = "lot_suspect"


class DuplicateSerial(DomainError):
    """A pack serial already received somewhere in the chain: a counterfeit sign."""

    code = "duplicate_serial"


class SupplierNotAuthorised(DomainError):
    code = "supplier_not_authorised"


class LotExpiryConflict(DomainError):
    """A receipt names a lot already on file with a different expiry."""

    code = "lot_expiry_conflict"


class NotReconstituted(DomainError):
    code = "not_reconstituted"


class AlreadyReconstituted(DomainError):
    code = "already_reconstituted"


class BeyondUse(DomainError):
    code = "beyond_use"


class ConfirmationRequired(DomainError):
    """A dose above a label or cumulative limit, or a re-treatment too soon: the injector confirms
    each warning with a reason, or the draw is not recorded (details: warnings [{code, message}])."""

    code = "confirmation_required"


class InsufficientQuantity(DomainError):
    code = "insufficient_quantity"


class ContainerOtherPatient(DomainError):
    code = "container_other_patient"


class WrongProductKind(DomainError):
    code = "wrong_product_kind"


class ContainerEmpty(DomainError):
    code = "container_empty"


class ContainerOnHold(DomainError):
    """A temperature excursion (or another safety concern) holds the container: no draw, reconstitution or
    transfer until a safety lead releases or wastes it (details: container_id, hold_reason, on_hold_since)."""

    code = "container_on_hold"


class ContainerInTransit(DomainError):
    """The container is on its way to another clinic: nothing may use it until it is received."""

    code = "container_in_transit"


class TreatmentClosed(DomainError):
    code = "treatment_closed"


class AlreadyReversed(DomainError):
    code = "already_reversed"


class IdempotencyConflict(DomainError):
    code = "idempotency_conflict"


class RecallOpenItems(DomainError):
    code = "recall_open_items"


# --- at the cart (added with inventory/services/cart.py) ------------------------


class NotReversible(DomainError):
    """Only draws and wastes are corrected by a reversal; a reversal is never reversed."""

    code = "not_reversible"


class PatientRefConflict(DomainError):
    """A patient reference already on file under another name or date of birth."""

    code = "patient_ref_conflict"


# --- administration (inventory/admin) -------------------------------------------------


class UserInactive(DomainError):
    """The user was deactivated: reactivate them first."""

    code = "user_inactive"


class LastAdmin(DomainError):
    """The chain would be left without an active admin, and so without anyone to manage users."""

    code = "last_admin"


class UsernameTaken(DomainError):
    code = "username_taken"


class DuplicateGtin(DomainError):
    """A GTIN names one product only: a scan must never be ambiguous."""

    code = "duplicate_gtin"


class NameTaken(DomainError):
    """A product, location (within its clinic) or clinic code already in use."""

    code = "duplicate_name"


class LocationHoldsStock(DomainError):
    """A location is retired only once nothing is kept there: move or use the stock first."""

    code = "location_holds_stock"


class ProductRetired(DomainError):
    """A retired product keeps its history but is received no more."""

    code = "product_retired"


class PasswordChangeRequired(DomainError):
    """An admin set the password (a new user, or a reset): the user sets a new one on the sign-in page before anything else."""

    code = "password_change_required"
    status = 403
