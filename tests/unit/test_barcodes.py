"""Unit tests for the pure barcode parser (no database, no Flask).

GTINs used (check digits computed with the GS1 mod-10 algorithm):
  00301234567896  Vialog's running example (DOMAIN.md prints ...890, whose check digit is wrong)
  09521234543213  GS1 General Specifications style example
  09501101530003  GS1 General Specifications GS1 DataMatrix example
  09520123456788  GS1 Digital Link standard example
  07032069804988  biip's own documentation example
  614141123452    UPC-A from biip's test suite
  5901234123457   EAN-13 (GS1 Poland sample)
  96385074        GTIN-8 from biip's documentation
"""

from __future__ import annotations

from datetime import date

import pytest

from inventory.errors import BadCheckDigit, SeparatorLost, UnreadableCode
from inventory.services.barcodes import (
    LABEL_ALPHABET,
    ScannedCode,
    new_label_code,
    normalise_gtin,
    normalise_lot_number,
    parse_scan,
    refuse_lost_separator,
)

GS = "\x1d"
GTIN = "00301234567896"
BOTOX = f"01{GTIN}17270331" + "10C3709C3"  # GTIN, expiry 2027-03-31, lot C3709C3


# --- GS1 element strings --------------------------------------------------------


def test_datamatrix_element_string_reads_gtin_expiry_lot_and_serial() -> None:
    raw = f"]d2{BOTOX}{GS}211234567"

    assert parse_scan(raw) == ScannedCode(
        kind="gs1",
        raw=raw,
        gtin=GTIN,
        lot="C3709C3",
        expiry=date(2027, 3, 31),
        expiry_raw="270331",
        serial="1234567",
    )


@pytest.mark.parametrize("prefix", ["]d2", "]C1", "]Q3", "]e0", ""])
def test_each_symbology_prefix_is_stripped_before_reading(prefix: str) -> None:
    scanned = parse_scan(f"{prefix}{BOTOX}{GS}211234567")

    assert (scanned.kind, scanned.gtin, scanned.lot, scanned.serial) == ("gs1", GTIN, "C3709C3", "1234567")
    assert scanned.expiry == date(2027, 3, 31)


@pytest.mark.parametrize("separator", [GS, "|", "{GS}", "<GS>", "^]", "{gs}"])
def test_gs1_string_with_each_separator_substitute_reads_lot_and_serial(separator: str) -> None:
    scanned = parse_scan(f"]d2{BOTOX}{separator}211234567")

    assert scanned.lot == "C3709C3"
    assert scanned.serial == "1234567"
    assert scanned.warnings == ()


def test_gs1_string_with_pipe_separator_reads_lot_and_serial() -> None:
    scanned = parse_scan(f"01{GTIN}10ABC12|21SN99|17270331")

    assert (scanned.lot, scanned.serial, scanned.expiry_raw) == ("ABC12", "SN99", "270331")


def test_gs1_string_with_separator_missing_after_a_last_lot_reads_the_lot() -> None:
    scanned = parse_scan(f"01{GTIN}17270331" + "10C3709C3")

    assert scanned.lot == "C3709C3"
    assert scanned.warnings == ()


@pytest.mark.parametrize("ending", ["\r\n", "\n", "\r", "   ", "\t"])
def test_surrounding_whitespace_and_the_scanners_enter_are_ignored(ending: str) -> None:
    raw = f"  ]d2{BOTOX}{ending}"

    scanned = parse_scan(raw)

    assert (scanned.gtin, scanned.lot) == (GTIN, "C3709C3")
    assert scanned.raw == raw


def test_a_trailing_separator_is_ignored() -> None:
    assert parse_scan(f"]d2{BOTOX}|").lot == "C3709C3"


@pytest.mark.parametrize(
    ("raw", "gtin", "expiry", "lot"),
    [
        # GS1 General Specifications, GS1 DataMatrix example
        ("]d2" "0109501101530003" "17140704" "10AB-123", "09501101530003", date(2014, 7, 4), "AB-123"),
        # GS1 General Specifications style, element string form of the HRI example
        ("0109521234543213" "17250331" "10ABC123", "09521234543213", date(2025, 3, 31), "ABC123"),
    ],
)
def test_examples_from_gs1_documentation_read_exactly(raw: str, gtin: str, expiry: date, lot: str) -> None:
    scanned = parse_scan(raw)

    assert (scanned.gtin, scanned.expiry, scanned.lot) == (gtin, expiry, lot)


def test_biip_documentation_example_reads_lot_but_best_before_is_not_expiry() -> None:
    # AI 15 is "best before", not expiry (AI 17): Vialog stores only AI 17 as expiry.
    scanned = parse_scan("010703206980498815210526100329")

    assert (scanned.gtin, scanned.lot) == ("07032069804988", "0329")
    assert scanned.expiry is None
    assert scanned.expiry_raw is None


@pytest.mark.parametrize(
    ("expiry_digits", "expiry"),
    [
        ("270200", date(2027, 2, 28)),
        ("280200", date(2028, 2, 29)),  # leap year
        ("271200", date(2027, 12, 31)),
        ("270400", date(2027, 4, 30)),
    ],
)
def test_expiry_day_00_means_the_last_day_of_the_month_and_raw_is_kept(expiry_digits: str, expiry: date) -> None:
    scanned = parse_scan(f"01{GTIN}17{expiry_digits}10LOT1")

    assert scanned.expiry == expiry
    assert scanned.expiry_raw == expiry_digits


def test_production_date_and_serial_are_read() -> None:
    scanned = parse_scan(f"01{GTIN}11260100" "17280131" f"21SER-7{GS}10L0T")

    assert scanned.production_date == date(2026, 1, 31)
    assert scanned.expiry == date(2028, 1, 31)
    assert scanned.serial == "SER-7"
    assert scanned.lot == "L0T"


def test_other_application_identifiers_are_accepted_and_ignored() -> None:
    # (240) additional product id and (30) count: parsed by biip, not stored.
    scanned = parse_scan(f"01{GTIN}240REF-9|3012|17270331" + "10C3709C3")

    assert (scanned.gtin, scanned.lot, scanned.expiry_raw) == (GTIN, "C3709C3", "270331")
    assert scanned.serial is None


def test_gs1_string_without_lot_or_expiry_reads_just_the_gtin() -> None:
    scanned = parse_scan(f"]d201{GTIN}")

    assert scanned == ScannedCode(kind="gs1", raw=f"]d201{GTIN}", gtin=GTIN)


def test_gs1_string_with_a_gtin_12_in_ai_01_keeps_14_digits() -> None:
    assert parse_scan("0100614141123452").gtin == "00614141123452"


# --- human-readable form -----------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        f"(01){GTIN}(17)270331(10)C3709C3",
        f"(01){GTIN} (17)270331 (10)C3709C3",
        f"(01) {GTIN} (17) 270331 (10) C3709C3\r\n",
        f"]d2(01){GTIN}(17)270331(10)C3709C3",
    ],
)
def test_human_readable_form_reads_gtin_expiry_and_lot(raw: str) -> None:
    scanned = parse_scan(raw)

    assert (scanned.kind, scanned.gtin, scanned.lot) == ("gs1", GTIN, "C3709C3")
    assert (scanned.expiry, scanned.expiry_raw) == (date(2027, 3, 31), "270331")


def test_gs1_general_specifications_hri_example_reads_exactly() -> None:
    scanned = parse_scan("(01)09521234543213(17)250331(10)ABC123")

    assert (scanned.gtin, scanned.expiry, scanned.lot) == ("09521234543213", date(2025, 3, 31), "ABC123")


def test_human_readable_form_with_serial_and_production_date() -> None:
    scanned = parse_scan(f"(01){GTIN}(11)260115(17)270200(10)C3709C3(21)12345")

    assert scanned.production_date == date(2026, 1, 15)
    assert (scanned.expiry, scanned.expiry_raw) == (date(2027, 2, 28), "270200")
    assert scanned.serial == "12345"


# --- GS1 Digital Link -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "lot", "serial", "expiry"),
    [
        (f"https://id.gs1.org/01/{GTIN}/10/C3709C3?17=270331", "C3709C3", None, date(2027, 3, 31)),
        (f"https://brand.example.com/01/{GTIN}/10/C3709C3/21/1234567", "C3709C3", "1234567", None),
        (f"https://example.com/qr/01/{GTIN}/10/C3709C3/21/SN1?17=270200&11=260101", "C3709C3", "SN1", date(2027, 2, 28)),
        (f"http://id.gs1.org/01/{GTIN}?17=270331&10=C3709C3&foo=bar", "C3709C3", None, date(2027, 3, 31)),
        (f"]Q3https://id.gs1.org/01/{GTIN}/10/C3709C3?17=270331", "C3709C3", None, date(2027, 3, 31)),
    ],
)
def test_digital_link_reads_lot_serial_and_query_expiry(
    raw: str, lot: str, serial: str | None, expiry: date | None
) -> None:
    scanned = parse_scan(raw)

    assert (scanned.kind, scanned.gtin, scanned.lot, scanned.serial, scanned.expiry) == (
        "gs1",
        GTIN,
        lot,
        serial,
        expiry,
    )


def test_gs1_digital_link_standard_example_reads_exactly() -> None:
    scanned = parse_scan("https://id.gs1.org/01/09520123456788/10/ABC123/21/12345?17=180426")

    assert (scanned.gtin, scanned.lot, scanned.serial) == ("09520123456788", "ABC123", "12345")
    assert (scanned.expiry, scanned.expiry_raw) == (date(2018, 4, 26), "180426")


def test_digital_link_with_a_short_gtin_is_padded_to_14_digits() -> None:
    assert parse_scan("https://example.com/01/614141123452").gtin == "00614141123452"


def test_digital_link_lot_is_percent_decoded() -> None:
    assert parse_scan(f"https://id.gs1.org/01/{GTIN}/10/AB%2F12").lot == "AB/12"


def test_digital_link_lot_ending_like_a_serial_is_not_warned_because_segments_are_explicit() -> None:
    assert parse_scan(f"https://id.gs1.org/01/{GTIN}/10/ABC1221SN99").warnings == ()


def test_digital_link_with_bad_gtin_check_digit_is_bad_check_digit() -> None:
    with pytest.raises(BadCheckDigit):
        parse_scan("https://id.gs1.org/01/00301234567890/10/C3709C3")


@pytest.mark.parametrize(
    "raw",
    [
        "https://www.example.com/",
        "https://id.gs1.org/01/00301234567896/lot/C3709C3",  # short names are not supported
        f"https://id.gs1.org/01/{GTIN}/21/SN1/10/C3709C3",  # qualifiers out of order
        f"https://id.gs1.org/01/{GTIN}?17=271331",
    ],
)
def test_web_links_that_are_not_valid_digital_links_are_unreadable(raw: str) -> None:
    with pytest.raises(UnreadableCode):
        parse_scan(raw)


# --- bare GTIN / EAN / UPC ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "gtin"),
    [
        ("96385074", "00000096385074"),  # GTIN-8
        ("614141123452", "00614141123452"),  # UPC-A
        ("5901234123457", "05901234123457"),  # EAN-13
        ("00301234567896", "00301234567896"),  # GTIN-14
        ("98765432109213", "98765432109213"),  # GTIN-14 with packaging indicator
        ("]E05901234123457", "05901234123457"),  # EAN-13 with symbology identifier
        ("]I198765432109213", "98765432109213"),  # ITF-14 with symbology identifier
        ("5901234123457\r\n", "05901234123457"),
    ],
)
def test_bare_product_code_reads_as_gtin_normalised_to_14_digits(raw: str, gtin: str) -> None:
    assert parse_scan(raw) == ScannedCode(kind="gtin", raw=raw, gtin=gtin)


@pytest.mark.parametrize("raw", ["00301234567890", "5901234123450", "614141123459", "96385075"])
def test_bare_product_code_with_wrong_check_digit_is_bad_check_digit(raw: str) -> None:
    with pytest.raises(BadCheckDigit) as caught:
        parse_scan(raw)

    assert caught.value.code == "bad_check_digit"
    assert caught.value.details == {"gtin": raw}


def test_bad_check_digit_message_says_what_the_digit_should_be() -> None:
    with pytest.raises(BadCheckDigit) as caught:
        parse_scan("00301234567890")

    assert caught.value.message == (
        "The check digit of 00301234567890 is wrong: it should end in 6. Scan again or check the digits."
    )


@pytest.mark.parametrize(
    "raw",
    [
        "0100301234567890" + "17270331" + "10C3709C3",
        "]d2" + "0100301234567891",
        "(01)00301234567890(17)270331(10)C3709C3",
    ],
)
def test_gs1_code_whose_gtin_check_digit_is_wrong_is_bad_check_digit(raw: str) -> None:
    with pytest.raises(BadCheckDigit):
        parse_scan(raw)


# --- lost separators --------------------------------------------------------------


def test_lost_separator_before_serial_gives_a_lot_with_a_warning_to_confirm() -> None:
    scanned = parse_scan(f"01{GTIN}10ABC1221SN99")

    # Never split silently: the lot stays as read, and a human confirms it.
    assert scanned.lot == "ABC1221SN99"
    assert scanned.serial is None
    assert len(scanned.warnings) == 1
    assert "ABC1221SN99" in scanned.warnings[0]
    assert "21SN99" in scanned.warnings[0]
    assert "ABC12?" in scanned.warnings[0]


@pytest.mark.parametrize(
    ("raw", "lot", "swallowed"),
    [
        (f"01{GTIN}10ABC1221SN99", "ABC1221SN99", "21SN99"),
        (f"01{GTIN}10ABC12317270331", "ABC12317270331", "17270331"),
        (f"01{GTIN}10XY11260101", "XY11260101", "11260101"),
        (f"01{GTIN}17270331" + "10D9T2198765", "D9T2198765", "2198765"),
        (f"(01){GTIN}(10)ABC1221SN99", "ABC1221SN99", "21SN99"),
        # QA: "21" at QA77|21... could start a serial, but the whole tail reads as the expiry the code otherwise
        # lacks: lot QA7721, expiry 31 Jan 2028 is the reading offered.
        (f"01{GTIN}10QA772117280131", "QA772117280131", "17280131"),
    ],
)
def test_lot_ending_in_something_shaped_like_another_element_comes_back_with_a_warning(
    raw: str, lot: str, swallowed: str
) -> None:
    scanned = parse_scan(raw)

    assert scanned.lot == lot
    assert len(scanned.warnings) == 1
    assert f"ends in {swallowed}" in scanned.warnings[0]
    assert scanned.lot_if_separated == lot[: -len(swallowed)]
    with pytest.raises(SeparatorLost) as refused:  # what every path that writes asks
        refuse_lost_separator(scanned)
    assert refused.value.code == "separator_lost" and refused.value.status == 409
    assert refused.value.details == {"lot_as_read": lot, "lot_if_separated": lot[: -len(swallowed)]}


@pytest.mark.parametrize("lot", ["C3709C3", "ABC123", "21ABC", "L2027", "A17", "X1713", "B21"])
def test_ordinary_lots_come_back_without_warnings(lot: str) -> None:
    scanned = parse_scan(f"01{GTIN}17270331" + f"10{lot}")

    assert scanned.lot == lot
    assert scanned.warnings == ()
    assert scanned.lot_if_separated is None
    refuse_lost_separator(scanned)  # nothing to refuse


def test_lot_at_20_characters_and_last_is_accepted() -> None:
    scanned = parse_scan(f"01{GTIN}10ABCDEFGHIJKLMNOPQRST")

    assert scanned.lot == "ABCDEFGHIJKLMNOPQRST"


def test_lot_at_20_characters_followed_by_a_separator_is_accepted() -> None:
    scanned = parse_scan(f"01{GTIN}10ABCDEFGHIJKLMNOPQRST|17270331")

    assert (scanned.lot, scanned.expiry_raw) == ("ABCDEFGHIJKLMNOPQRST", "270331")


@pytest.mark.parametrize(
    "raw",
    [
        # biip stops the lot at 20 characters and fails on the rest
        f"01{GTIN}10ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        # biip stops the lot at 20 characters and would silently read (17) after it
        f"01{GTIN}10ABCDEFGHIJKLMNOPQRST17270331",
        f"01{GTIN}10LOT-12345678901234567{GS}17270331",  # 21 characters, then GS
        f"(01){GTIN}(10)ABCDEFGHIJKLMNOPQRSTU",
    ],
)
def test_lot_longer_than_20_characters_is_unreadable_and_blames_a_lost_separator(raw: str) -> None:
    with pytest.raises(UnreadableCode) as caught:
        parse_scan(raw)

    assert "longer than 20 characters" in caught.value.message


def test_lot_too_long_message_names_what_was_read() -> None:
    with pytest.raises(UnreadableCode) as caught:
        parse_scan(f"01{GTIN}10ABCDEFGHIJKLMNOPQRST17270331")

    assert caught.value.details["lot"] == "ABCDEFGHIJKLMNOPQRST17270331"
    assert "separator" in caught.value.message


def test_serial_running_past_its_maximum_length_is_unreadable() -> None:
    with pytest.raises(UnreadableCode):
        parse_scan(f"01{GTIN}21" + "1" * 20 + "10C3709C3")


# --- unreadable codes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "printed"),
    [
        (f"01{GTIN}17271331" + "10C3709C3", "271331"),  # month 13
        (f"01{GTIN}17270230" + "10C3709C3", "270230"),  # 30 February
        (f"01{GTIN}17270031", "270031"),  # month 00
        (f"(01){GTIN}(17)271331(10)C3709C3", "271331"),
    ],
)
def test_impossible_expiry_is_unreadable_with_a_clear_message(raw: str, printed: str) -> None:
    with pytest.raises(UnreadableCode) as caught:
        parse_scan(raw)

    assert caught.value.code == "unreadable_code"
    assert f"expiry date in this code ({printed}, YYMMDD) is not a real date" in caught.value.message


def test_impossible_production_date_is_unreadable() -> None:
    with pytest.raises(UnreadableCode) as caught:
        parse_scan(f"01{GTIN}11261301")

    assert "production date" in caught.value.message


@pytest.mark.parametrize("raw", ["", "   ", "\r\n", "\t \n"])
def test_empty_input_is_unreadable(raw: str) -> None:
    with pytest.raises(UnreadableCode):
        parse_scan(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "hello",
        "123",
        "not a barcode at all",
        "12345678901",  # 11 digits: no GTIN has that length
        "]",
        "]d2",
        "]x1234",
        "(99)",
        "(01)0952(10)X",
        f"01{GTIN}10AB C",  # a space cannot be in a lot
        "10C3709C3",  # a lot but no GTIN
        "17270331" "10C3709C3",  # an expiry and a lot but no GTIN
        "00106141412345678908",  # an SSCC (pallet label), not a product
        "(10)C3709C3(17)270331",
    ],
)
def test_junk_or_codes_without_a_gtin_are_unreadable(raw: str) -> None:
    with pytest.raises(UnreadableCode) as caught:
        parse_scan(raw)

    assert caught.value.code == "unreadable_code"
    assert caught.value.details["raw"] == raw


def test_code_with_two_different_lots_is_unreadable() -> None:
    with pytest.raises(UnreadableCode):
        parse_scan(f"01{GTIN}10LOTA|10LOTB")


# --- Vialog label codes -------------------------------------------------------------


def test_new_label_code_is_vl_and_8_crockford_characters() -> None:
    code = new_label_code()

    assert len(code) == 10
    assert code.startswith("VL")
    assert all(char in LABEL_ALPHABET for char in code[2:])


def test_new_label_codes_are_random() -> None:
    assert len({new_label_code() for _ in range(200)}) == 200


def test_new_label_code_round_trips_through_parse_scan() -> None:
    code = new_label_code()

    assert parse_scan(code) == ScannedCode(kind="container", raw=code, label_code=code)


@pytest.mark.parametrize(
    ("raw", "label_code"),
    [
        ("VL7K2M9QXA", "VL7K2M9QXA"),
        ("vl7k2m9qxa", "VL7K2M9QXA"),
        ("Vl7K2m9QxA\r\n", "VL7K2M9QXA"),
        ("  VL7K2M9QXA  ", "VL7K2M9QXA"),
        ("VLO0IiLl00", "VL00111100"),  # Crockford confusables: O -> 0, I and L -> 1
        ("]C0VL7K2M9QXA", "VL7K2M9QXA"),  # Code 128 symbology identifier
    ],
)
def test_label_code_is_read_case_insensitively_with_confusables_folded(raw: str, label_code: str) -> None:
    assert parse_scan(raw) == ScannedCode(kind="container", raw=raw, label_code=label_code)


@pytest.mark.parametrize(
    "raw",
    [
        "VL",
        "VL123",
        "VL7K2M9QX",  # 7 characters
        "VL7K2M9QXAB",  # 9 characters
        "VL7K2M9QXU",  # U is not in Crockford base32
        "VL7K2-9QXA",
        "VL7K2 M9QXA",
        "VLABCDEFG!",
    ],
)
def test_malformed_label_code_is_unreadable(raw: str) -> None:
    with pytest.raises(UnreadableCode) as caught:
        parse_scan(raw)

    assert "Vialog label" in caught.value.message


# --- normalise_gtin ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("digits", "gtin"),
    [
        ("96385074", "00000096385074"),
        ("614141123452", "00614141123452"),
        ("5901234123457", "05901234123457"),
        ("09521234543213", "09521234543213"),
        (" 5901234123457 ", "05901234123457"),
    ],
)
def test_normalise_gtin_pads_8_12_13_and_14_digits_to_14(digits: str, gtin: str) -> None:
    assert normalise_gtin(digits) == gtin


@pytest.mark.parametrize("digits", ["09521234543210", "5901234123458", "614141123453"])
def test_normalise_gtin_refuses_a_wrong_check_digit(digits: str) -> None:
    with pytest.raises(BadCheckDigit):
        normalise_gtin(digits)


@pytest.mark.parametrize(
    "digits",
    ["", "123", "12345678901", "123456789012345", "59012341234A7", "5901234-23457", "٥٩٠١٢٣٤١٢٣٤٥٧"],
)
def test_normalise_gtin_refuses_non_digits_and_other_lengths(digits: str) -> None:
    with pytest.raises(UnreadableCode):
        normalise_gtin(digits)


# --- normalise_lot_number -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lot"),
    [
        ("c3709c3", "C3709C3"),
        ("  C3709C3\r\n", "C3709C3"),
        ("10D9T", "10D9T"),  # a typed lot is never read as AI 10
        ("(10)abc", "(10)ABC"),
        ("ab-12/x", "AB-12/X"),
    ],
)
def test_normalise_lot_number_strips_and_upper_cases_without_parsing(text: str, lot: str) -> None:
    assert normalise_lot_number(text) == lot


def test_quantities_read_as_people_write_them():
    from decimal import Decimal

    from inventory.models.base import plain_quantity

    assert [plain_quantity(Decimal(v)) for v in ("4.0000", "0.5500", "100", "-0", "-0.0000", "-2.5")] == [
        "4", "0.55", "100", "0", "0", "-2.5"
    ]
