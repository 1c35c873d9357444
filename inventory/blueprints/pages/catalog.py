"""The product catalog, read-only: what each product is and how it may be used."""

from __future__ import annotations

from flask import render_template

from inventory.blueprints.pages.core import bp, page
from inventory.extensions import db
from inventory.services import catalog as catalog_service
from inventory.services.permissions import Permission


@bp.get("/catalog")
@page(Permission.CART)
def catalog():
    return render_template("pages/catalog.html", kinds=catalog_service.products_by_kind(db.session))
