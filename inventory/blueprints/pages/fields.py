"""Form fields shared by the pages: each parses with the one validator the API and CLI use too."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from wtforms import StringField

from inventory.errors import ValidationError
from inventory.validators import parse_quantity


class QuantityField(StringField):
    """A quantity typed by hand: refuses scanned codes, exponents, NaN and non-ASCII digits.

    ``data`` is a Decimal or None (nothing typed); pair it with InputRequired or Optional
    (DataRequired would call a typed 0 missing).
    """

    data: Decimal | None

    def __init__(self, label: str | None = None, validators: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("render_kw", {}).update(inputmode="decimal", autocomplete="off", spellcheck="false")
        super().__init__(label, validators, **kwargs)
        self._typed = ""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self._typed = str(valuelist[0]) if valuelist else ""
        self.data = None
        if not self._typed.strip():
            self.raw_data: list[Any] = []  # spaces alone are nothing typed: InputRequired refuses, Optional lets it be
            return
        try:
            self.data = parse_quantity(self._typed, what=self.label.text.split(" (")[0])
        except ValidationError as error:
            raise ValueError(error.message) from None

    def _value(self) -> str:
        # A refused entry is not written back: the nurse types the quantity afresh, never appends to a code.
        if self.data is not None:
            return f"{self.data:f}"
        return ""
