"""Vialog's own container labels: a Code128 of the label code plus the facts a nurse checks.

python-barcode draws the bars; this module only lays out the text lines around them.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

import barcode
from barcode.writer import ImageWriter, SVGWriter
from PIL import Image, ImageDraw, ImageFont

from inventory.models import Container
from inventory.services.clock import to_clinic_time

_BAR_OPTIONS = {"module_width": 0.33, "module_height": 11.0, "quiet_zone": 2.0, "font_size": 9, "text_distance": 4.0}
_FONT = Path(barcode.__file__).parent / "fonts" / "DejaVuSansMono.ttf"


@dataclass(frozen=True)
class LabelText:
    code: str
    lines: tuple[str, ...]


def label_text(container: Container) -> LabelText:
    """The human-readable lines printed under the bars."""
    lot = container.lot
    product = container.product
    lines = [product.name[:34], f"Lot {lot.number}  Exp {lot.expiry.isoformat()}"]
    if container.concentration_u_per_ml is not None and container.beyond_use_at is not None:
        per_tenth = (container.concentration_u_per_ml / 10).quantize(Decimal("0.01"))
        bud = to_clinic_time(container.beyond_use_at, container.clinic.timezone)
        lines.append(f"{per_tenth.normalize():f} {product.base_unit}/0.1 mL  use by {bud:%d %b %H:%M}")
    return LabelText(container.label_code, tuple(lines))


def render_svg(text: LabelText) -> str:
    bars = io.BytesIO()
    barcode.get("code128", text.code, writer=SVGWriter()).write(bars, options=_BAR_OPTIONS)
    # Nest the barcode's own <svg> (minus its XML prologue) inside the label.
    inner = re.sub(r"^.*?(?=<svg)", "", bars.getvalue().decode(), flags=re.S)
    inner = inner.replace("<svg ", '<svg x="1mm" y="0mm" ', 1)
    width_mm, line_mm = 62, 4.2
    height_mm = 22 + line_mm * len(text.lines)
    rows = "".join(
        f'<text x="3mm" y="{22 + line_mm * (i + 0.8):.1f}mm" font-family="DejaVu Sans Mono, monospace" '
        f'font-size="3.2mm">{escape(line)}</text>'
        for i, line in enumerate(text.lines)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width_mm}mm" height="{height_mm:.1f}mm">'
        f'<rect width="100%" height="100%" fill="white"/>{inner}{rows}</svg>'
    )


def render_png(text: LabelText, dpi: int = 300) -> bytes:
    bars = barcode.get("code128", text.code, writer=ImageWriter()).render(writer_options={**_BAR_OPTIONS, "dpi": dpi})
    font = ImageFont.truetype(str(_FONT), size=int(dpi * 0.12))
    line_px = int(font.size * 1.35)
    label = Image.new("RGB", (max(bars.width, int(dpi * 2.4)), bars.height + line_px * len(text.lines) + line_px // 2), "white")
    label.paste(bars, (0, 0))
    draw = ImageDraw.Draw(label)
    for i, line in enumerate(text.lines):
        draw.text((int(dpi * 0.08), bars.height + i * line_px), line, fill="black", font=font)
    out = io.BytesIO()
    label.save(out, format="PNG", dpi=(dpi, dpi))
    return out.getvalue()
