"""A product's page says when it was loosened, and its audit trail, on the chain's clock (CLINIC_TZ), as the
suppliers page and the recall pages say the chain's moments: never in UTC, which no clinic reads."""

from __future__ import annotations

from html import unescape

from inventory.admin import service
from inventory.models import utcnow


def test_the_latest_loosening_and_the_trail_are_on_the_chains_clock(app, browser_client, world, session, monkeypatch):
    monkeypatch.setitem(app.config, "CLINIC_TZ", "Asia/Tokyo")
    botox = world.products["botox"]
    service.update_product(session, actor=world.users["admin"], product_id=botox.id,
                           fields={"beyond_use_hours": 48}, reason="protocol CP-9", now=utcnow())
    session.flush()
    page = unescape(browser_client("admin").get(f"/catalog/{botox.id}/edit").get_data(as_text=True))
    latest = page.split('id="p-latest-loosening">')[1].split("</p>")[0]
    assert "JST" in latest and "UTC" not in latest
    trail = page.split('<ul class="audit-trail">', 1)[1].split("</ul>")[0]
    assert "JST" in trail and "UTC" not in trail
