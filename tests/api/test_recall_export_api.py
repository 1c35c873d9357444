"""The notification list downloaded as Excel holds each patient's phone number exactly as it was typed."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from recall import exports
from tests.api.test_recall_api import Data

UK_PHONE = "+44 20 7946 0000"


@pytest.fixture
def data(world):
    return Data(world)


def test_a_downloaded_notification_list_shows_an_international_phone_number_as_typed(api, data):
    assert api("nurse").patch(f"/patients/{data.ann.id}", {"phone": UK_PHONE}).status_code == 200
    lead = api("safety")
    case = lead.post("/recalls", {"lot_ids": [data.lot.id], "reason": "Notice 19", "recall_class": "II",
                                  "source": "manufacturer"}).get_json()
    response = lead.get(f"/recalls/{case['id']}/notifications.xlsx")
    assert response.status_code == 200 and response.mimetype == exports.XLSX_MIMETYPE
    sheet = load_workbook(io.BytesIO(response.get_data())).worksheets[0]
    phone_col = exports.NOTIFICATION_HEADERS.index("Phone")
    ann = next(row for row in sheet.iter_rows(min_row=2) if row[2].value == "Ann Lee")
    phone = ann[phone_col]
    # The number itself, no apostrophe; a string cell with Excel's quote prefix, so it never runs as a formula.
    assert (phone.value, phone.data_type, phone.quotePrefix) == (UK_PHONE, "s", True)
