"""A quantity typed wrongly is refused with its own message alone: QA found "Session maximum: at most 4 decimal
places." and "Must be above 0." side by side for 64.00001, the second untrue."""

from __future__ import annotations

from tests.pages.test_product_unit_locked_pages import _save


def test_a_mistyped_limit_is_refused_with_one_true_message(browser_client, world):
    admin = browser_client("admin")
    refused = _save(admin, world.botox, session_max_units="64.00001")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "Session maximum: at most 4 decimal places." in html
    assert "Must be above 0." not in html
    zero = _save(admin, world.botox, session_max_units="0").get_data(as_text=True)
    assert "Must be above 0." in zero  # the range check still speaks for a quantity it may judge
