"""The container label PNG at the printer's resolution, through the API and the page, read by a real decoder."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image

from tests.api.conftest import error_code
from tests.factories import PASSWORD
from tests.pages.conftest import csrf_token

MESSAGE = "Label resolution must be 203, 300 or 600 dpi."


def _png(response) -> Image.Image:
    assert response.status_code == 200 and response.mimetype == "image/png"
    return Image.open(io.BytesIO(response.get_data()))


def test_label_png_at_203_dpi_is_50_by_25_mm_and_decodes(api, world):
    container = world.container("botox")
    image = _png(api("nurse").get(f"/containers/{container.label_code}/label.png?dpi=203"))
    assert image.size == (400, 200)  # 50 x 25 mm at 203 dpi
    assert [(c.text, c.format) for c in zxingcpp.read_barcodes(image)] == [
        (container.label_code, zxingcpp.BarcodeFormat.Code128)
    ]


def test_label_png_defaults_to_300_dpi(api, world):
    container = world.container("botox")
    image = _png(api("nurse").get(f"/containers/{container.id}/label.png"))
    assert image.size == (591, 295) and [round(v) for v in image.info["dpi"]] == [300, 300]


@pytest.mark.parametrize("dpi", ["abc", "150", "0", "99999", ""])
def test_other_resolutions_are_422_in_words(api, world, dpi):
    container = world.container("botox")
    response = api("nurse").get(f"/containers/{container.id}/label.png?dpi={dpi}")
    assert response.status_code == 422 and error_code(response) == "validation_error"
    assert response.get_json()["error"]["message"] == f"dpi: {MESSAGE}"


def test_openapi_declares_the_dpi_parameter(api, world):
    operation = api().get("/openapi.json").get_json()["paths"]["/api/v1/containers/{container_ref}/label.png"]["get"]
    assert "dpi" in [p["name"] for p in operation["parameters"] if p["in"] == "query"]
    assert "422" in operation["responses"]


def test_page_label_png_takes_the_same_dpi_and_refuses_others_with_400(app, world):
    container = world.container("botox")
    client = app.test_client()
    token = csrf_token(client, "/login")
    client.post("/login", data={"username": world.users["nurse"].username, "password": PASSWORD, "csrf_token": token})
    assert _png(client.get(f"/containers/{container.label_code}/label.png?dpi=600")).size == (1181, 591)
    refused = client.get(f"/containers/{container.label_code}/label.png?dpi=150")
    assert refused.status_code == 400 and MESSAGE in refused.get_data(as_text=True)
