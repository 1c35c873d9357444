"""A patient's contact details, as a recall needs them: a phone number a person can dial, an email address a mail
can be sent to (inventory/validators.py check_phone, check_email). Pure: no database."""

from __future__ import annotations

import pytest

from inventory.errors import ValidationError
from inventory.validators import check_email, check_phone


@pytest.mark.parametrize("typed", [
    "+44 20 7946 0000", "07700 900123", "(020) 7946-0000", "020/7946.0000", "+1 (212) 555-0100",
    "+44 (0)20 7946 0000", "0044 20 7946 0000", "+44 20 7946 0000 ext 12", "+44 20 7946 0000 ext. 12",
    "555-1234 x12", "555 1234 X 12", "020 7946 0000 extension 4", "123456", "+123456789012345",
    "+44 20 7946\u20130000",  # an en dash pasted from a letter
])
def test_a_number_a_person_can_dial_is_kept_as_typed(typed):
    assert check_phone(typed) == typed


@pytest.mark.parametrize("typed", [
    "call me maybe", "abc", "07700 9OO123", "++44 20 7946 0000", "44+ 20 7946 0000", "+44 20 7946 0000 ext",
    "+44 20 7946 0000 ext 1234567", "020 7946 0000 #12", "tel:+442079460000", "\u0661\u0662\u0663\u0664\u0665\u0666",
    "+", "()",
])
def test_what_no_one_can_dial_is_refused_in_a_nurses_words(typed):
    with pytest.raises(ValidationError) as refused:
        check_phone(typed)
    assert refused.value.message == ("Phone: type a phone number the clinic can dial, such as +44 20 7946 0000 "
                                     "(an extension as ext 12).")
    assert refused.value.details["field"] == "phone"


@pytest.mark.parametrize(("typed", "digits"), [("12345", 5), ("+1234567890123456", 16), ("0 1 2 3 4", 5)])
def test_a_number_has_six_to_fifteen_digits_as_e164_allows(typed, digits):
    with pytest.raises(ValidationError, match=f"6 to 15 digits; this one has {digits}") as refused:
        check_phone(typed)
    assert refused.value.details["field"] == "phone"


@pytest.mark.parametrize("typed", [
    "jane@example.com", "Jane.Doe@Example.COM", "amelia+recall@mail.example.org", "jöe@exämple.de",
])
def test_an_address_a_mail_can_reach_is_kept_as_typed_never_lower_cased(typed):
    assert check_email(typed) == typed


@pytest.mark.parametrize(("typed", "reason"), [
    ("jane@@example", "The part after the @-sign contains invalid characters: '@'."),
    ("jane@example", "The part after the @-sign is not valid. It should have a period."),
    ("jane example.com", "An email address must have an @-sign."),
    ("jane doe@example.com", "The email address contains invalid characters before the @-sign: SPACE."),
    ("jane@example.com.", "An email address cannot end with a period."),
    ("@example.com", "There must be something before the @-sign."),
])
def test_an_address_no_mail_can_reach_is_refused_with_the_reason(typed, reason):
    with pytest.raises(ValidationError) as refused:
        check_email(typed)
    assert refused.value.message == ("Email: type an email address the clinic can write to, such as "
                                     f"jane@example.com. {reason}")
    assert refused.value.details == {"field": "email", "fields": [{"field": "email", "problem": refused.value.message}]}


def test_an_address_is_checked_without_asking_dns():
    # A domain that does not exist is still refused by nothing but its shape: no look-up at a treatment cart.
    assert check_email("patient@no-such-domain-vialog.example.org") == "patient@no-such-domain-vialog.example.org"
