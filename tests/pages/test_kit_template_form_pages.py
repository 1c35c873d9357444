"""QA: a refused kit template form lost what was typed ("1500 U" cleared) and its one message at the bottom named no
line. Now each problem is said under the field at fault, naming its line, and every field keeps what was typed."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from inventory.kits.models import KitTemplate
from tests.pages.conftest import csrf_token


def _form(client, world, **lines: str) -> dict[str, str]:
    return {
        "csrf_token": csrf_token(client, "/kit-templates"), "name": "Vascular occlusion kit",
        "description": "Filler rooms", "check_interval_days": "7", "warning_days": "30",
        "requirements-0-label": "Hyaluronidase", "requirements-0-target": "kind:hyaluronidase",
        "requirements-0-min_quantity": "1500", "requirements-0-min_days_to_expiry": "60",
        "requirements-1-label": "Syringes 1 mL", "requirements-1-target": f"product:{world.products['syringe'].id}",
        "requirements-1-min_quantity": "10", "requirements-1-min_days_to_expiry": "0",
    } | {f"requirements-{name.replace('_', '-', 1)}": value for name, value in lines.items()}


def _input(html: str, name: str) -> str:
    (tag,) = re.findall(rf'<(?:input|select)[^>]*name="{name}"[^>]*>', html)
    return tag


def test_a_minimum_typed_with_its_unit_is_named_beside_its_line_and_kept(browser_client, world, session):
    client = browser_client("clinic_manager")
    refused = client.post("/kit-templates", data=_form(client, world, **{"0_min_quantity": "1500 U"}))
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422
    field = _input(html, "requirements-0-min_quantity")
    assert 'value="1500 U"' in field  # what was typed, to be put right
    assert 'aria-invalid="true"' in field and 'aria-describedby="requirements-0-min_quantity-problem"' in field
    assert ('<p class="field-error" id="requirements-0-min_quantity-problem">'
            "Requirement 1: type the minimum as a number, such as 1500</p>") in html
    assert "each minimum is a number of 0 or more" not in html
    # Every other field as typed; the other line is not marked.
    assert 'value="Hyaluronidase"' in _input(html, "requirements-0-label")
    assert 'value="60"' in _input(html, "requirements-0-min_days_to_expiry")
    assert 'value="10"' in _input(html, "requirements-1-min_quantity")
    assert 'value="Syringes 1 mL"' in _input(html, "requirements-1-label")
    assert re.search(r'<option selected value="kind:hyaluronidase">|<option value="kind:hyaluronidase" selected>',
                     html)
    assert 'value="Vascular occlusion kit"' in _input(html, "name")
    assert "aria-invalid" not in _input(html, "requirements-1-min_quantity")
    assert session.scalar(select(KitTemplate).where(KitTemplate.name == "Vascular occlusion kit")) is None

    corrected = client.post("/kit-templates", data=_form(client, world))
    assert corrected.status_code == 302


@pytest.mark.parametrize(("line", "typed", "said"), [
    ("1_min_quantity", "ten", "Requirement 2: minimum: type a number, such as 4 or 0.1."),
    ("1_min_quantity", "0", "Requirement 2: the minimum is above 0, such as 1500 or 10"),
    ("1_min_quantity", "1.00001", "Requirement 2: minimum: at most 4 decimal places."),
    ("1_min_days_to_expiry", "a month", "Requirement 2: days to expiry at least: type a whole number, such as 3."),
    ("1_min_quantity", "", "Requirement 2: give a label, a product or kind, and a minimum."),
])
def test_each_refused_line_is_named_beside_the_field_at_fault(browser_client, world, line, typed, said):
    client = browser_client("clinic_manager")
    refused = client.post("/kit-templates", data=_form(client, world, **{line: typed}))
    html = refused.get_data(as_text=True)
    name = f"requirements-{line.replace('_', '-', 1)}"
    assert refused.status_code == 422
    assert f'<p class="field-error" id="{name}-problem">{said}</p>' in html
    assert f'value="{typed}"' in _input(html, name) or not typed
    assert 'aria-invalid="true"' in _input(html, name)
