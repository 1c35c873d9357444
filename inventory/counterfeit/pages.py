"""The suppliers page (manager, admin) and the watch list with the safety lead's signs (safety lead, admin)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from inventory import unit_of_work
from inventory.blueprints.pages.core import bp, page, refused, scope
from inventory.counterfeit import service as counterfeit
from inventory.errors import DomainError, NotFound, ValidationError
from inventory.extensions import db
from inventory.models import Product, utcnow
from inventory.services.permissions import Permission
from inventory.words import counted, listing, some_of

MAX_UPLOAD = 512 * 1024
SKIPPED_SHOWN = 20  # the skipped rows of an import said one by one; any more are listed by their line,
SKIPPED_LINES_NAMED = 40  # as many as this, then counted (the page's messages travel in its session cookie)


# The suppliers' form fields a refusal may name: said beside the field, with what was typed kept.
SUPPLIER_FIELDS = ("name", "licence", "reason")


@dataclass(frozen=True)
class FieldRefusal:
    """A refused supplier form (``supplier_id`` None: the form that adds one), shown again as it was typed, with
    each field's problem beside it and the code the API answers with."""

    error: DomainError
    typed: dict[str, str]
    supplier_id: int | None = None

    @property
    def problems(self) -> dict[str, str]:
        listed = self.error.details.get("fields") or [{"field": self.error.details.get("field"),
                                                       "problem": self.error.message}]
        return {str(item["field"]): str(item["problem"]) for item in listed if item.get("field") in SUPPLIER_FIELDS}


@bp.route("/suppliers", methods=["GET", "POST"])
@page(Permission.CATALOG)
def suppliers():
    if request.method == "POST":
        try:
            supplier = counterfeit.add_supplier(
                db.session, actor=current_user, name=request.form.get("name", ""),
                licence=request.form.get("licence"), authorised=request.form.get("authorised") == "on",
                reason=request.form.get("reason"), now=utcnow(),
            )
        except DomainError as error:
            if error.details.get("field") in SUPPLIER_FIELDS:
                return _said_beside(error)
            refused(error)
        else:
            flash(f"{supplier.name} is on the list{'' if supplier.is_authorised else ', not authorised'}.", "ok")
        return redirect(url_for("pages.suppliers"))
    return _suppliers_page()


def _suppliers_page(refusal: FieldRefusal | None = None) -> tuple[str, int]:
    listed = counterfeit.list_suppliers(db.session)
    authorised_ids = {s.id for s in listed if s.is_authorised}
    # Marked "no licence on file": none, or a placeholder saved before licences had to be numbers ("n/a").
    unlicensed = {s.id for s in listed
                  if s.is_authorised and not (s.licence and counterfeit.is_licence_number(s.licence))}
    # Authorising is the chain's: a clinic-level manager sees the list and adds suppliers for review.
    html = render_template("pages/suppliers.html", suppliers=listed, chain_level=current_user.is_chain_level,
                           authorisations=counterfeit.authorisations(db.session, authorised_ids),
                           unlicensed=unlicensed, refusal=refusal,
                           # The suppliers are the chain's: moments on the chain's clock, named (a page read at
                           # every clinic).
                           chain_tz=current_app.config["CLINIC_TZ"])
    return html, refusal.error.status if refusal else 200


def _said_beside(error: DomainError, supplier_id: int | None = None) -> tuple[str, int]:
    """A refusal of what was typed in a field (a placeholder licence, a name taken) is said beside it, the form
    shown again as typed (the add form, or ``supplier_id``'s). The request is rolled back, as ``refused`` does, so
    the list shows what is saved."""
    unit_of_work.mark_refused()
    return _suppliers_page(FieldRefusal(error, _typed(), supplier_id))


def _typed() -> dict[str, str]:
    return {name: request.form.get(name, "") for name in SUPPLIER_FIELDS} | {
        "authorised": "on" if request.form.get("authorised") == "on" else ""}


@bp.post("/suppliers/<int:supplier_id>")
@page(Permission.CATALOG)
def supplier_update(supplier_id: int):
    counterfeit.get_supplier(db.session, supplier_id)  # an unknown supplier is a 404
    changes: dict[str, object] = {"authorised": request.form.get("authorised") == "on"}
    if "licence" in request.form:
        changes["licence"] = request.form["licence"]
    try:
        supplier = counterfeit.update_supplier(db.session, actor=current_user, supplier_id=supplier_id, now=utcnow(),
                                               changes=changes, reason=request.form.get("reason"))
    except DomainError as error:
        if error.details.get("field") in SUPPLIER_FIELDS:
            return _said_beside(error, supplier_id)
        refused(error)
    else:
        flash(f"{supplier.name}: {'authorised' if supplier.is_authorised else 'not authorised: receipts refused'}.",
              "ok")
    return redirect(url_for("pages.suppliers"))


@bp.route("/watchlist", methods=["GET", "POST"])
@page(Permission.RECALL)
def watchlist():
    if request.method == "POST":
        try:
            watched = counterfeit.watch(
                db.session, actor=current_user, lot_number=request.form.get("lot_number", ""),
                source=request.form.get("source", ""), note=request.form.get("note"), now=utcnow(),
                product_id=_int(request.form.get("product_id")),
            )
        except DomainError as error:
            refused(error)
        else:
            entry = watched.entry
            flash(f"Lot {entry.display_number} of {entry.product.name} is on the watch list: receiving or scanning "
                  "it is refused from now on." + ("" if watched.quarantined else " No usable lot of that number is on file.")
                  + (f" It is watched on every {brand} product." if (brand := entry.product.brand.strip()) else ""),
                  "ok")
            _flash_watched([watched])
        return redirect(url_for("pages.watchlist"))
    products = db.session.execute(select(Product.id, Product.name).order_by(Product.name)).all()
    return render_template("pages/watchlist.html", entries=counterfeit.list_watched(db.session),
                           signs=counterfeit.signs(db.session, scope=scope(), limit=100), products=products,
                           # A watched lot is the chain's, as is a sign seen at no clinic: said on the chain's
                           # clock; a sign seen at a clinic on that clinic's. Each names its clock, as they are
                           # read side by side.
                           chain_tz=current_app.config["CLINIC_TZ"],
                           # The trace is the recall feature's page: linked when it is installed.
                           can_trace="pages.trace" in current_app.view_functions)


@bp.post("/watchlist/import")
@page(Permission.RECALL)
def watchlist_import():
    upload = request.files.get("file")
    data = upload.read(MAX_UPLOAD + 1) if upload else b""
    try:
        if not data or len(data) > MAX_UPLOAD:
            raise ValidationError("Choose a CSV file of at most 512 KB.", field="file")
        result = counterfeit.import_csv(db.session, actor=current_user, text=data.decode("utf-8", "replace"),
                                        source=request.form.get("source", ""), now=utcnow())
    except DomainError as error:
        refused(error)
    else:
        flash(f"{counted(len(result.added), 'lot number')} added to the watch list." + (
            f" {counted(len(result.skipped), 'row')} skipped: see why below." if result.skipped else ""), "ok")
        _flash_watched(result.added)
        # Each row skipped, with its line and why, as far as a page of messages holds them; the rest by line.
        for line in result.skipped[:SKIPPED_SHOWN]:
            flash(str(line), "warning")
        if len(result.skipped) > SKIPPED_SHOWN:
            rest = [str(line.row) for line in result.skipped[SKIPPED_SHOWN:]]
            named = listing(rest) if len(rest) <= SKIPPED_LINES_NAMED else some_of(rest, SKIPPED_LINES_NAMED)
            flash(f"Also skipped: rows {named}. Correct them and import them again: rows already on "
                  "the watch list are skipped.", "warning")
    return redirect(url_for("pages.watchlist"))


@bp.post("/watchlist/<int:entry_id>/delete")
@page(Permission.RECALL)
def watchlist_delete(entry_id: int):
    try:
        removed = counterfeit.unwatch(db.session, actor=current_user, entry_id=entry_id,
                                      reason=request.form.get("reason", ""), now=utcnow())
    except NotFound:
        raise  # an entry no longer on the list (taken off by someone else meanwhile) is a 404 page
    except DomainError as error:
        refused(error)
    else:
        entry = removed.entry
        flash(f"Lot {entry.display_number} of {entry.product.name} is taken off the watch list.", "ok")
        for lot in removed.quarantined:
            flash(f"Lot {lot.number} of {lot.product.name} stays quarantined: release it from its trace if it may "
                  "be used again.", "warning")
    return redirect(url_for("pages.watchlist"))


def _flash_watched(watched: list[counterfeit.Watched]) -> None:
    for w in watched:
        for lot in w.quarantined:
            looks_like = "" if lot.number_key == w.entry.number_key else f" (it looks like {w.entry.display_number})"
            flash(f"Lot {lot.number} of {lot.product.name} is in stock{looks_like}: it is quarantined at every "
                  "location. Trace it from the watch list.", "warning")


def _int(value: str | None) -> int | None:
    text = (value or "").strip()
    return int(text) if text.isdigit() and len(text) <= 10 else None
