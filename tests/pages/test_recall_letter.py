"""QA's report on the recall letter: the class printed in lower case, a garbled sentence naming the lot, and a
letter telling a patient whose only dose was reversed (recorded by mistake, not given) that the product was
used in their treatment."""

from __future__ import annotations

import datetime as dt
import re

from recall import services
from tests import factories
from tests import recall_helpers as rh
from tests.factories import NOW, patient, reconstitute


def text_of(response) -> str:
    """The letter's words as a reader sees them: tags dropped, spaces collapsed."""
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    article = html[html.index('<article class="recall-letter">'):html.index("</article>")]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", article)).replace(" .", ".").replace(" ,", ",")


def open_case(world, lot_id: int, recall_class: str = "I") -> int:
    return services.open_recall(world.session, actor=world.users["safety"], lot_ids=[lot_id], reason="Notice 19",
                                recall_class=recall_class, source="manufacturer", now=NOW).id


def test_the_letter_names_the_class_properly_and_says_what_the_patient_received(browser_client, world):
    vials = world.receive("botox", lot="LT4821A", containers=2).containers
    later = NOW + dt.timedelta(days=14)
    vial, touch_up = reconstitute(world, vials[0]), reconstitute(world, vials[1], at=later)
    ann = patient(world, "L-1", name="Ann Lee")
    first = rh.treat(world, ann)
    rh.give(world, first, vial, "8", area="glabella")
    rh.give(world, first, vial, "6", area="forehead")
    rh.give(world, rh.treat(world, ann, at=later), touch_up, "4", area="dao", at=later)
    case_id = open_case(world, vial.lot_id)

    text = text_of(browser_client("safety").get(f"/recalls/{case_id}/patients/{ann.id}/letter"))

    assert "(Class I: reasonable probability of serious harm or death)" in text
    assert "class i" not in text
    assert ("Our records show that you received Botox Cosmetic 100 U from lot LT4821A on 15 June 2026 in the "
            "glabella (frown lines) and forehead, and 29 June 2026 in the depressor anguli oris (DAO).") in text
    assert "a product of lot" not in text
    assert "used in your treatment at Clinic LON" in text and "Difficulty swallowing" in text
    assert "Please contact Clinic LON, ask for the clinic's safety lead and mention recall case" in text


def test_each_class_is_printed_as_it_is_named(browser_client, world):
    vial = reconstitute(world, world.container("botox", lot="LT4821A"))
    ann = patient(world, "L-1", name="Ann Lee")
    rh.give(world, rh.treat(world, ann), vial, "4")
    case_id = open_case(world, vial.lot_id, recall_class="III")
    text = text_of(browser_client("safety").get(f"/recalls/{case_id}/patients/{ann.id}/letter"))
    assert "(Class III: unlikely to cause harm)" in text


def test_a_patient_whose_only_dose_was_reversed_is_told_they_did_not_receive_it(browser_client, world):
    vial = reconstitute(world, world.container("botox", lot="LT4821A"))
    pat = patient(world, "P-31", name="Pat Quinn")
    draw = rh.give(world, rh.treat(world, pat), vial, "20", area="forehead")
    case_id = open_case(world, vial.lot_id)
    rh.reverse(world, draw, at=NOW + dt.timedelta(hours=1))  # after the case opened: Pat stays on its list

    client = browser_client("safety")
    assert 'class="tag tag-reversed">reversed: not given' in client.get(f"/recalls/{case_id}").get_data(as_text=True)
    page = client.get(f"/recalls/{case_id}/patients/{pat.id}/letter")
    text = text_of(page)

    assert "used in your treatment" not in text and "you received" not in text.lower()
    assert "What to watch for" not in text
    assert ("A dose of Botox Cosmetic 100 U from lot LT4821A was recorded for you on 15 June 2026 in the forehead, "
            "but that entry was made by mistake and has been corrected: our records show you did not receive it."
            ) in text
    assert "(Class I: reasonable probability of serious harm or death)" in text
    assert 'id="letter-not-received"' in page.get_data(as_text=True)  # a note for the safety lead, not printed


def test_a_reversed_dose_beside_one_given_is_named_as_not_received(browser_client, world):
    vial = reconstitute(world, world.container("botox", lot="LT4821A"))
    ann = patient(world, "L-1", name="Ann Lee")
    treatment = rh.treat(world, ann)
    rh.give(world, treatment, vial, "8", area="glabella")
    mistake = rh.give(world, treatment, vial, "4", area="forehead")
    case_id = open_case(world, vial.lot_id)
    factories.reverse(world, mistake, user="safety", at=NOW + dt.timedelta(hours=1))

    page = browser_client("safety").get(f"/recalls/{case_id}/patients/{ann.id}/letter")
    text = text_of(page)

    assert ("Our records show that you received Botox Cosmetic 100 U from lot LT4821A on 15 June 2026 in the "
            "glabella (frown lines).") in text
    assert "recorded on 15 June 2026 in the forehead was entered by mistake" in text
    assert "you did not receive that one" in text and "Difficulty swallowing" in text
    assert 'id="letter-not-received"' not in page.get_data(as_text=True)


def test_what_to_watch_for_follows_what_the_patient_received_not_every_lot_of_the_case(browser_client, world):
    vials = [reconstitute(world, v) for v in world.receive("botox", lot="LT4821A", containers=2).containers]
    syringe = world.container("filler", lot="VB7731")
    toxin_only, both = patient(world, "L-1", name="Ann Lee"), patient(world, "L-2", name="Bea Holt")
    rh.give(world, rh.treat(world, toxin_only), vials[0], "8", area="forehead")
    both_visit = rh.treat(world, both)
    rh.give(world, both_visit, vials[1], "4", area="glabella")
    rh.give(world, both_visit, syringe, "0.5", area="lip")
    case_id = services.open_recall(world.session, actor=world.users["safety"], lot_ids=[vials[0].lot_id, syringe.lot_id],
                                   reason="Notice 19", recall_class="I", source="manufacturer", now=NOW).id
    client = browser_client("safety")

    toxin_letter = text_of(client.get(f"/recalls/{case_id}/patients/{toxin_only.id}/letter"))
    assert "seek urgent medical care and tell them you had botulinum toxin" in toxin_letter
    assert "change of skin colour" not in toxin_letter and "emergency department" not in toxin_letter

    both_letter = text_of(client.get(f"/recalls/{case_id}/patients/{both.id}/letter"))
    assert "tell them you had botulinum toxin" in both_letter and "change of skin colour" in both_letter


def test_the_letter_is_dated_as_a_letter_on_the_clinics_calendar(browser_client, world):
    vial = reconstitute(world, world.container("botox", lot="LT4821A"))
    ann = patient(world, "L-1", name="Ann Lee")
    rh.give(world, rh.treat(world, ann), vial, "4")
    case_id = open_case(world, vial.lot_id)
    html = browser_client("safety").get(f"/recalls/{case_id}/patients/{ann.id}/letter").get_data(as_text=True)
    dated = re.search(r'<article class="recall-letter">.*?<p>([^<]*)</p>', html, re.S)
    assert dated and re.fullmatch(r"\d{1,2} [A-Z][a-z]+ \d{4}", dated.group(1).strip()), dated and dated.group(1)
