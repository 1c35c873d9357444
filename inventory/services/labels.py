"""Vialog's own container labels on 50 x 25 mm thermal stock: a Code128 of the label code plus the facts a nurse checks.

python-barcode only encodes: the bars are drawn here from its module pattern at a whole number of printer
dots per module, because a thermal head cannot print a fractional dot and a scanner misreads bars that the
printer driver rounded unevenly. The text shrinks, then is cut, to fit the stock; the bars never shrink.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

import barcode
from PIL import Image, ImageDraw, ImageFont

from inventory.models import Container
from inventory.services.clock import format_clinic_time, format_date
from inventory.words import hundredths

LABEL_MM = (50, 25)
PRINTER_DPIS = (203, 300, 600)
DEFAULT_DPI = 300
DPI_MESSAGE = "Label resolution must be 203, 300 or 600 dpi."

_FONT = Path(barcode.__file__).parent / "fonts" / "DejaVuSansMono.ttf"
_QUIET_MODULES = 10  # each side: scanners need it to find where the symbol starts
_MIN_MODULE_DOTS = 2  # a 1-dot module is at the mercy of the print head's dot gain
_MARGIN_MM = 1.0  # top and bottom: the printer's registration wanders this much
_TEXT_MARGIN_MM = 1.5  # left and right of the text lines
_CODE_EM_MM, _CODE_PITCH_MM = 2.0, 2.4  # the label code, centred under the bars
_LINE_EM_MM, _LINE_PITCH_MM = 2.4, 2.8  # product, lot and beyond-use lines
_MIN_LINE_EM_MM = 1.8  # smaller than this a 203 dpi head makes it unreadable: cut the line instead
_BASELINE = 0.78  # of a row's pitch: room above for capitals, below for descenders
_ELLIPSIS = "\u2026"
_SVG_DPI = 300  # the SVG repeats the default PNG's geometry, in mm


@dataclass(frozen=True)
class LabelText:
    code: str
    lines: tuple[str, ...]


def label_text(container: Container) -> LabelText:
    """The human-readable lines printed under the bars (the renderer fits them to the stock)."""
    lot = container.lot
    product = container.product
    lines = [product.name, f"Lot {lot.number}  Exp {format_date(lot.expiry)}"]
    if container.concentration_u_per_ml is not None and container.beyond_use_at is not None:
        per_tenth = hundredths(container.concentration_u_per_ml / 10)  # as the cart says it
        bud = format_clinic_time(container.beyond_use_at, container.clinic.timezone)
        lines.append(f"{per_tenth} {product.base_unit}/0.1 mL  use by {bud}")
    return LabelText(container.label_code, tuple(lines))


def parse_dpi(value: object) -> int:
    """The printer resolution a request names ("203", "300" or "600"); ValueError(DPI_MESSAGE) otherwise."""
    for dpi in PRINTER_DPIS:
        if value == dpi or value == str(dpi):
            return dpi
    raise ValueError(DPI_MESSAGE)


@dataclass(frozen=True)
class _Row:
    text: str
    x: int  # the left end, or the centre when centred
    baseline: int
    size: int  # font em in dots
    centred: bool = False


@dataclass(frozen=True)
class _Layout:
    dpi: int
    width: int
    height: int
    bars: tuple[tuple[int, int], ...]  # (left, width) in dots
    bar_top: int
    bar_bottom: int
    rows: tuple[_Row, ...]


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(_FONT), size=size)


def _fit(line: str, room: int, size: int, min_size: int) -> tuple[str, int]:
    """The largest font size from size down to min_size that fits the line; else the line cut at min_size."""
    for candidate in range(size, min_size - 1, -1):
        if _font(candidate).getlength(line) <= room:
            return line, candidate
    font = _font(min_size)
    while line and font.getlength(line + _ELLIPSIS) > room:
        line = line[:-1]
    return line.rstrip() + _ELLIPSIS, min_size


def _layout(text: LabelText, dpi: int) -> _Layout:
    def dots(mm: float) -> int:
        return round(mm * dpi / 25.4)

    width, height = dots(LABEL_MM[0]), dots(LABEL_MM[1])
    pattern = barcode.get("code128", text.code).build()[0]  # "1" bar / "0" space, one character per module
    module = width // (len(pattern) + 2 * _QUIET_MODULES)
    if module < _MIN_MODULE_DOTS:
        raise ValueError(f"{text.code} is too long for a {LABEL_MM[0]} mm label at {dpi} dpi.")
    left = (width - module * len(pattern)) // 2  # what is left over widens both quiet zones equally
    bars = tuple((left + run.start() * module, len(run.group()) * module) for run in re.finditer("1+", pattern))

    line_pitch, code_pitch = dots(_LINE_PITCH_MM), dots(_CODE_PITCH_MM)
    bar_top = dots(_MARGIN_MM)
    bar_bottom = height - dots(_MARGIN_MM) - len(text.lines) * line_pitch - code_pitch
    rows = [_Row(text.code, width // 2, bar_bottom + round(code_pitch * _BASELINE), dots(_CODE_EM_MM), centred=True)]
    margin = dots(_TEXT_MARGIN_MM)
    for i, line in enumerate(text.lines):
        fitted, size = _fit(line, width - 2 * margin, dots(_LINE_EM_MM), dots(_MIN_LINE_EM_MM))
        top = bar_bottom + code_pitch + i * line_pitch
        rows.append(_Row(fitted, margin, top + round(line_pitch * _BASELINE), size))
    return _Layout(dpi, width, height, bars, bar_top, bar_bottom, tuple(rows))


def render_svg(text: LabelText) -> str:
    """The label in mm, with the default PNG's geometry; print the PNG at the printer's dpi for exact bars."""
    layout = _layout(text, _SVG_DPI)

    def mm(value: int) -> str:
        return f"{value * 25.4 / layout.dpi:.3f}"

    bar_height = mm(layout.bar_bottom - layout.bar_top)
    rects = "".join(
        f'<rect x="{mm(x)}" y="{mm(layout.bar_top)}" width="{mm(w)}" height="{bar_height}"/>' for x, w in layout.bars
    )
    rows = "".join(
        f'<text x="{mm(row.x)}" y="{mm(row.baseline)}" font-size="{mm(row.size)}" '
        f'text-anchor="{"middle" if row.centred else "start"}" xml:space="preserve">{escape(row.text)}</text>'
        for row in layout.rows
    )
    w, h = LABEL_MM
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w}mm" height="{h}mm" viewBox="0 0 {w} {h}">'
        f'<rect width="{w}" height="{h}" fill="white"/>'
        f'<g fill="black" shape-rendering="crispEdges">{rects}</g>'
        f'<g font-family="DejaVu Sans Mono, monospace">{rows}</g></svg>'
    )


def render_png(text: LabelText, dpi: int = DEFAULT_DPI) -> bytes:
    """A 1-bit PNG of exactly the stock's size in printer dots: print it at 100 %, without scaling."""
    if dpi not in PRINTER_DPIS:
        raise ValueError(DPI_MESSAGE)
    layout = _layout(text, dpi)
    label = Image.new("1", (layout.width, layout.height), 1)
    draw = ImageDraw.Draw(label)
    draw.fontmode = "1"  # a thermal head prints no grey: no antialiasing
    for x, w in layout.bars:
        draw.rectangle((x, layout.bar_top, x + w - 1, layout.bar_bottom - 1), fill=0)
    for row in layout.rows:
        draw.text((row.x, row.baseline), row.text, fill=0, font=_font(row.size), anchor="ms" if row.centred else "ls")
    out = io.BytesIO()
    label.save(out, format="PNG", dpi=(dpi, dpi))
    return out.getvalue()
