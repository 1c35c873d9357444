"""The trace page says when a scanned code's expiry is not its lot's on file, and traces the lot all the same (QA:
it traced such a box without a word, while receiving refuses the mismatch as a counterfeit sign)."""

from __future__ import annotations

import datetime as dt

MESSAGE = ("The code&#39;s expiry 2027-03-31 differs from this lot&#39;s expiry on file, 2027-06-30: the box may not "
           "be genuine; check it and tell the safety lead.")


def test_the_trace_page_warns_of_a_code_whose_expiry_is_not_the_lots(browser_client, world):
    lot = world.container("botox", lot="C3709C3", expiry=dt.date(2027, 6, 30)).lot
    gtin = world.botox.gtins[0].gtin
    client = browser_client("safety")
    response = client.get("/trace", query_string={"q": f"(01){gtin}(17)270331(10)C3709C3"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'data-lot-id="{lot.id}"' in html  # traced
    assert 'data-code="expiry_differs"' in html and MESSAGE in html
    # The lot's own expiry, or a typed number, says nothing.
    same = client.get("/trace", query_string={"q": f"(01){gtin}(17)270630(10)C3709C3"}).get_data(as_text=True)
    typed = client.get("/trace", query_string={"q": "C3709C3"}).get_data(as_text=True)
    assert "expiry_differs" not in same and "expiry_differs" not in typed
    assert f'data-lot-id="{lot.id}"' in same
