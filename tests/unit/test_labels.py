"""Container labels on 50 x 25 mm thermal stock, read back by a real decoder (zxing-cpp), without a database.

The geometry is checked on the rendered pixels only: a row through the bars is cut into runs of black and
white, as a scanner sees it, and never recomputed from the renderer's own arithmetic.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
import zxingcpp
from PIL import Image

from inventory.models import Clinic, Container, Lot, Product
from inventory.services import labels
from inventory.services.barcodes import new_label_code

DPIS = (203, 300, 600)


def _container(**overrides) -> Container:
    product = Product(name=overrides.pop("product_name", "Botox Cosmetic 100 U"), base_unit="U")
    lot = Lot(number=overrides.pop("lot", "C3709C3"), expiry=dt.date(2027, 3, 31), product=product)
    clinic = Clinic(code="LON", name="Clinic LON", timezone="Europe/London")
    return Container(label_code=overrides.pop("code", "VL3K7QX2M9"), product=product, lot=lot, clinic=clinic,
                     **overrides)


def _reconstituted(**overrides) -> Container:
    # 13:30 UTC is 14:30 in London in June (BST): the beyond-use time is printed in the clinic's zone.
    return _container(concentration_u_per_ml=Decimal("25"),
                      beyond_use_at=dt.datetime(2026, 6, 15, 13, 30, tzinfo=dt.UTC), **overrides)


def _image(container: Container, dpi: int) -> Image.Image:
    return Image.open(io.BytesIO(labels.render_png(labels.label_text(container), dpi=dpi)))


def _dots(mm: float, dpi: int) -> int:
    return round(mm / 25.4 * dpi)


def _decoded(image: Image.Image) -> list[tuple[str, zxingcpp.BarcodeFormat]]:
    return [(found.text, found.format) for found in zxingcpp.read_barcodes(image)]


def _runs(image: Image.Image, y: int) -> list[tuple[int, int]]:
    """(pixel value, length) of each run of equal pixels along row y."""
    grey = image.convert("L")
    row = [grey.getpixel((x, y)) for x in range(grey.width)]
    return [(value, len(list(group))) for value, group in itertools.groupby(row)]


def test_label_text_has_the_product_lot_expiry_and_the_beyond_use_time_in_clinic_time():
    assert labels.label_text(_container()).lines == ("Botox Cosmetic 100 U", "Lot C3709C3  Exp 31 Mar 2027")
    assert labels.label_text(_reconstituted()).lines[2] == "2.5 U/0.1 mL  use by 15 Jun 2026 14:30"


@pytest.mark.parametrize("dpi", DPIS)
@pytest.mark.parametrize("build", [_container, _reconstituted], ids=["plain", "reconstituted"])
def test_png_is_the_stock_size_and_decodes(build, dpi):
    image = _image(build(), dpi)
    assert image.size == (_dots(50, dpi), _dots(25, dpi))
    assert [round(value) for value in image.info["dpi"]] == [dpi, dpi]
    assert _decoded(image) == [("VL3K7QX2M9", zxingcpp.BarcodeFormat.Code128)]


@pytest.mark.parametrize("dpi", DPIS)
@pytest.mark.parametrize("build", [_container, _reconstituted], ids=["plain", "reconstituted"])
def test_bars_are_whole_dots_with_ten_module_quiet_zones(build, dpi):
    image = _image(build(), dpi)
    runs = _runs(image, image.height // 4)  # the bars fill the top of the label, below a 1 mm margin
    assert {value for value, _ in runs} == {0, 255}, "a bar edge fell between dots"
    (left_value, left_quiet), *symbol, (right_value, right_quiet) = runs
    assert left_value == right_value == 255
    widths = [length for _, length in symbol]
    module = min(widths)  # every Code128 symbol has a one-module element
    assert module >= 2
    assert all(width % module == 0 and width // module <= 4 for width in widths)
    modules = sum(widths) // module
    assert (modules - 2) % 11 == 0  # 11 modules a symbol character, start and check included, 13 for stop
    assert min(left_quiet, right_quiet) >= 10 * module
    assert (modules + 20) * (module + 1) > image.width, "a wider module would have fitted"


def test_module_width_in_dots_for_a_letters_label_code():
    # "VL" + 8 letters and digits is Code128 set B: 145 modules, so 2 dots at 203 dpi, 3 at 300, 7 at 600.
    for dpi, module in [(203, 2), (300, 3), (600, 7)]:
        symbol = _runs(_image(_container(), dpi), _dots(5, dpi))[1:-1]
        assert min(length for _, length in symbol) == module, dpi


def test_long_text_shrinks_or_is_cut_and_never_leaves_the_stock_or_moves_the_bars():
    long_one = _reconstituted(product_name="Juvederm Volbella XC with Lidocaine 0.55 mL prefilled syringe " * 2,
                              lot="ABCDEFGHIJ0123456789")
    for dpi in DPIS:
        image = _image(long_one, dpi).convert("L")
        assert _decoded(image) == [("VL3K7QX2M9", zxingcpp.BarcodeFormat.Code128)]
        right_margin = image.crop((image.width - _dots(1, dpi), 0, image.width, image.height))
        bottom_margin = image.crop((0, image.height - _dots(0.3, dpi), image.width, image.height))
        assert right_margin.getextrema() == bottom_margin.getextrema() == (255, 255), dpi
        assert _runs(image, image.height // 4) == _runs(_image(_reconstituted(), dpi), image.height // 4)


# Fresh random codes every run, under ids that stay the same: every pytest-xdist worker collects its own codes,
# and the workers' lists of tests must match.
@pytest.mark.parametrize("code", [pytest.param(new_label_code(), id=f"random-{n}") for n in range(24)]
                         + ["VL00000000", "VLZZZZZZZZ", "VL0123ABCD"])
def test_any_label_code_decodes_at_203_dpi(code):
    image = _image(_reconstituted(code=code), 203)
    assert _decoded(image) == [(code, zxingcpp.BarcodeFormat.Code128)]


@pytest.mark.parametrize("dpi", [150, 0, 99999, "abc", "", "203.0"])
def test_other_resolutions_are_refused_in_words(dpi):
    with pytest.raises(ValueError, match="Label resolution must be 203, 300 or 600 dpi."):
        labels.parse_dpi(dpi)
    if isinstance(dpi, int):
        with pytest.raises(ValueError, match="Label resolution"):
            labels.render_png(labels.label_text(_container()), dpi=dpi)


def test_parse_dpi_takes_the_query_string_form():
    assert [labels.parse_dpi(value) for value in ("203", "300", "600", 203)] == [203, 300, 600, 203]


def test_svg_is_50_by_25_mm_with_ten_module_quiet_zones_and_the_text():
    svg = ET.fromstring(labels.render_svg(labels.label_text(_reconstituted())))
    ns = {"svg": "http://www.w3.org/2000/svg"}
    assert (svg.get("width"), svg.get("height"), svg.get("viewBox")) == ("50mm", "25mm", "0 0 50 25")
    bars = [(float(r.get("x")), float(r.get("width"))) for r in svg.findall("svg:g/svg:rect", ns)]
    module = min(width for _, width in bars)
    assert bars[0][0] >= 10 * module - 1e-9
    assert 50 - (bars[-1][0] + bars[-1][1]) >= 10 * module - 1e-9
    texts = [t.text for t in svg.findall("svg:g/svg:text", ns)]
    assert texts == ["VL3K7QX2M9", "Botox Cosmetic 100 U", "Lot C3709C3  Exp 31 Mar 2027",
                     "2.5 U/0.1 mL  use by 15 Jun 2026 14:30"]
