"""A recall case that cannot close says only what is still open, counted in words ('1 patient', '3 containers')."""

from __future__ import annotations

import pytest

from recall.services import _still_open


@pytest.mark.parametrize("pending, boxes, back, words", [
    (1, 0, 0, "1 patient to notify: finish that list first."),
    (0, 3, 0, "3 containers to return or destroy: finish that list first."),
    (2, 1, 0, "2 patients to notify and 1 container to return or destroy: finish both lists first."),
    (0, 0, 1, "1 container back in stock: finish that list first."),
    (1, 2, 1, "1 patient to notify, 2 containers to return or destroy and 1 container back in stock: finish both "
              "lists first."),
])
def test_a_case_that_cannot_close_names_only_what_is_open(pending, boxes, back, words):
    counts = {"patients_pending": pending, "containers_open": boxes, "containers_back_in_stock": back}
    assert _still_open(7, counts) == f"Recall case 7 still has {words}"
