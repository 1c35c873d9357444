"""Opening a Class III recall (unlikely harm) says its patients need no notification, rather than counting them
as patients to notify: they start "not required" unless the safety lead widens the case."""

from __future__ import annotations

import pytest

from tests.pages.conftest import csrf_token
from tests.pages.test_recall_pages import data  # noqa: F401  (the scene: Ann Lee received lot C3709C3)


@pytest.mark.parametrize(("recall_class", "said"), [
    ("III", "0 patients to notify, 1 who received it need no notification (Class III), "),
    ("I", "1 patient to notify, "),
])
def test_opening_a_recall_counts_the_patients_to_notify_by_its_class(browser_client, data, recall_class, said):  # noqa: F811
    client = browser_client("safety")
    lot_id = data["lot"].id
    opened = client.post("/recalls", data={"csrf_token": csrf_token(client, f"/trace/lots/{lot_id}"),
                                           "lot_ids": str(lot_id), "reason": "labelling error",
                                           "recall_class": recall_class, "source": "manufacturer"},
                         follow_redirects=True)
    assert opened.status_code == 200
    assert said in opened.get_data(as_text=True)
