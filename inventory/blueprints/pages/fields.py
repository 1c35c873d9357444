"""Form fields shared by the pages: each parses with the one validator the API and CLI use too."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from wtforms import Field, IntegerField, SelectChoice, StringField, TextAreaField
from wtforms.form import BaseForm
from wtforms.validators import StopValidation

from inventory.errors import ValidationError
from inventory.validators import QUANTITY_PATTERN, parse_quantity, text_problem


def choices_of(pairs: Iterable[tuple[Any, str]]) -> list[SelectChoice]:
    """A select's or radio's choices from (value, label) pairs, such as a service's areas or reasons: WTForms 3.3
    takes SelectChoice (tuples are deprecated, and go in 3.4). A choice iterates as four items, never as a pair:
    a template reads ``choice.value`` and ``choice.label``."""
    return [SelectChoice(value, label) for value, label in pairs]


def location_choices(locations: Iterable[Any]) -> list[SelectChoice]:
    """A select of places, each as "LON · Treatment cart": the clinic's code first, since a chain-level user
    picks among every clinic's rooms."""
    return [SelectChoice(loc.id, f"{loc.clinic.code} · {loc.name}") for loc in locations]


class PlainText:
    """WTForms validator: the one text check (inventory/validators.py) on a page field. No control
    characters (tab and line breaks only when ``multiline``), lone surrogates or non-characters; a GS
    separator only in a field that takes a scan (``scanned``)."""

    def __init__(self, *, multiline: bool = False, scanned: bool = False, max_length: int = 2000) -> None:
        self.multiline, self.scanned, self.max_length = multiline, scanned, max_length

    def __call__(self, form: BaseForm, field: Field) -> None:
        value = field.data if isinstance(field.data, str) else ""
        if self.scanned:
            value = value.replace("\x1d", "")
        problem = text_problem(value, multiline=self.multiline or self.scanned, max_length=self.max_length)
        if problem is not None:
            raise StopValidation(f"{field.label.text.split(' (')[0]}: {problem}.")


class TextField(StringField):
    """One line of free text, checked by PlainText before the field's own validators."""

    def __init__(self, label: str | None = None, validators: Any = None, **kwargs: Any) -> None:
        super().__init__(label, [PlainText(), *(validators or [])], **kwargs)


class NotesField(TextAreaField):
    """Several lines of free text (tab and line breaks allowed), checked by PlainText."""

    def __init__(self, label: str | None = None, validators: Any = None, **kwargs: Any) -> None:
        super().__init__(label, [PlainText(multiline=True), *(validators or [])], **kwargs)


class ScanField(StringField):
    """What a scanner typed: GS separators allowed, other control characters refused."""

    def __init__(self, label: str | None = None, validators: Any = None, **kwargs: Any) -> None:
        super().__init__(label, [PlainText(scanned=True, max_length=500), *(validators or [])], **kwargs)


class WholeNumberField(IntegerField):
    """A whole number typed by hand: ASCII digits only (no "1_0", no other scripts' digits, no sign
    tricks), at most nine of them; anything else is a form error, never a 500."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None
        if not valuelist:
            return
        typed = str(valuelist[0]).strip()
        if not typed:
            return
        if not (typed.isascii() and typed.isdigit() and len(typed) <= 9):
            raise ValueError(f"{self.label.text.split(' (')[0]}: type a whole number, such as 3.")
        self.data = int(typed)


class QuantityField(StringField):
    """A quantity typed by hand: refuses scanned codes, exponents, NaN and non-ASCII digits.

    ``data`` is a Decimal or None (nothing typed); pair it with InputRequired or Optional
    (DataRequired would call a typed 0 missing).
    """

    data: Decimal | None

    def __init__(self, label: str | None = None, validators: Any = None, **kwargs: Any) -> None:
        # data-quantity-pattern: the page's scan guard tells a slow scan in this field from a quantity by it.
        kwargs.setdefault("render_kw", {}).update(
            inputmode="decimal", autocomplete="off", spellcheck="false", data_quantity_pattern=QUANTITY_PATTERN
        )
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

    def pre_validate(self, form: Any) -> None:
        # What was typed is no quantity: its own message says why, and no range check adds another ("Must be above
        # 0." beside "at most 4 decimal places" for 64.00001).
        if self.process_errors:
            raise StopValidation()

    def _value(self) -> str:
        # A refused entry is not written back: the nurse types the quantity afresh, never appends to a code.
        if self.data is not None:
            return f"{self.data:f}"
        return ""
