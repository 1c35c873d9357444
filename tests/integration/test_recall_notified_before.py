"""A new recall case on a lot an earlier case already worked: a patient already told about every dose she had
from its lots is carried over as notified (with who told her, when and how, and the case), and does not keep
the new case open; a dose the earlier notification did not cover (of another lot, or dated after it) leaves
her pending."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from inventory.models import AuditEvent
from recall import services
from recall.models import NotificationMethod, NotificationStatus, RecallStatus
from tests import recall_helpers as rh
from tests.factories import EVERYWHERE, NOW, World, patient, reconstitute

HOUR = dt.timedelta(hours=1)

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


class Story:
    """Botox lot NB1 at London and New York: Ann, Bea (London) and Ned (New York) each had a dose. Case A
    (Class I) told Ann by phone and Bea by letter, could not reach Ned, destroyed the vials and closed."""

    def __init__(self, world: World, *, before_first_case=None):
        rh.share_toxins(world)
        self.world = world
        nyc = world.other_clinic
        lon_vials = world.receive("botox", lot="NB1", containers=2).containers
        nyc_vial = world.receive("botox", lot="NB1", location=world.location("Fridge", nyc)).containers[0]
        self.lot = lon_vials[0].lot
        self.vial, self.vial_ny = reconstitute(world, lon_vials[0]), reconstitute(world, nyc_vial)
        self.ann, self.bea = patient(world, "L-1", name="Ann Lee"), patient(world, "L-2", name="Bea Moss")
        self.ned = patient(world, "N-1", clinic=nyc, name="Ned Ray")
        rh.give(world, rh.treat(world, self.ann), self.vial, "4")
        rh.give(world, rh.treat(world, self.bea), self.vial, "4")
        rh.give(world, rh.treat(world, self.ned), self.vial_ny, "8", area="forehead")
        if before_first_case:
            before_first_case(self)
        self.first = self.open([self.lot.id], "I", at=NOW + HOUR)
        self.update(self.first, self.ann, "notified", method="phone", at=NOW + 2 * HOUR)
        self.update(self.first, self.bea, "notified", method="letter", at=NOW + 2 * HOUR)
        self.update(self.first, self.ned, "unreachable", at=NOW + 2 * HOUR)
        services.update_containers(world.session, actor=self.lead, scope=EVERYWHERE, case_id=self.first.id,
                                   container_ids=[c.container_id for c in self.first.containers],
                                   status="destroyed", now=NOW + 2 * HOUR)
        services.close_case(world.session, actor=self.lead, case_id=self.first.id, now=NOW + 3 * HOUR)

    @property
    def lead(self):
        return self.world.users["safety"]

    def open(self, lot_ids, recall_class="II", *, at=NOW + 24 * HOUR):
        return services.open_recall(self.world.session, actor=self.lead, lot_ids=lot_ids, reason="Notice 2",
                                    recall_class=recall_class, source="manufacturer", now=at)

    def update(self, case, who, status, *, method=None, at=NOW + 25 * HOUR):
        return services.update_patient(self.world.session, actor=self.lead, scope=EVERYWHERE, case_id=case.id,
                                       patient_id=who.id, status=status, method=method, now=at)


def lines_of(story: Story, case) -> dict[int, services.PatientLine]:
    return {line.patient.id: line for line in services.case_view(story.world.session, case.id, EVERYWHERE).patients}


def test_a_patient_already_notified_about_the_lot_is_carried_over_as_notified(world):
    story = Story(world)

    second = story.open([story.lot.id])

    lines = lines_of(story, second)
    ann = lines[story.ann.id]
    assert (ann.line.status, ann.line.method) == (NotificationStatus.NOTIFIED, NotificationMethod.PHONE)
    # Who told her, and when, as the earlier case recorded it; the note says where it comes from.
    assert (ann.line.updated_at, ann.line.updated_by_id) == (NOW + 2 * HOUR, story.lead.id)
    assert f"recall case {story.first.id}" in ann.line.note and "carried over" in ann.line.note
    assert ann.carried_from is not None and ann.carried_from.case_id == story.first.id
    assert (ann.carried_from.at, ann.carried_from.method, ann.carried_from.by) == (
        NOW + 2 * HOUR, NotificationMethod.PHONE, story.lead.label)
    assert lines[story.bea.id].line.method is NotificationMethod.LETTER
    # Unreachable is not told: Ned is to be tried again.
    ned = lines[story.ned.id]
    assert (ned.line.status, ned.carried_from, ned.earlier) == (NotificationStatus.PENDING, None, [])


def test_the_carried_over_patients_do_not_keep_the_case_open(world):
    story = Story(world)
    second = story.open([story.lot.id])
    assert services.open_counts(world.session, second.id)["patients_pending"] == 1  # Ned only

    story.update(second, story.ned, "notified", method="email")
    closed = services.close_case(world.session, actor=story.lead, case_id=second.id, now=NOW + 26 * HOUR)

    assert closed.status is RecallStatus.CLOSED


def test_what_is_carried_over_is_in_the_audit_trail(world):
    story = Story(world)
    second = story.open([story.lot.id])

    events = world.session.scalars(select(AuditEvent).where(AuditEvent.action == "recall.notification_carried")
                                   .order_by(AuditEvent.id)).all()

    assert [e.details["patient_id"] for e in events] == [story.ann.id, story.bea.id]
    ann = events[0]
    assert (ann.object_id, ann.actor_id, ann.at, ann.clinic_id) == (str(second.id), story.lead.id, NOW + 24 * HOUR,
                                                                   world.clinic.id)
    assert ann.details["from_case_ids"] == [story.first.id] and ann.details["method"] == "phone"
    assert ann.details["notified_at"] == (NOW + 2 * HOUR).isoformat() and ann.details["lot_ids"] == [story.lot.id]
    assert "recall.notification_carried" in services.CHANGE_ACTIONS
    opened = world.session.scalar(select(AuditEvent).where(AuditEvent.action == "recall.opened",
                                                           AuditEvent.object_id == str(second.id)))
    assert opened.details["carried_over"] == 2


def test_a_dose_dated_after_the_notification_leaves_the_patient_pending(world):
    # Bea's second dose is dated after case A told her (whatever order the clock and the keyboard took).
    story = Story(world, before_first_case=lambda s: rh.give(world, rh.treat(world, s.bea, at=NOW + 5 * HOUR),
                                                             s.vial, "2", at=NOW + 5 * HOUR))
    second = story.open([story.lot.id])

    bea = lines_of(story, second)[story.bea.id]

    assert (bea.line.status, bea.carried_from) == (NotificationStatus.PENDING, None)
    assert [n.case_id for n in bea.earlier] == [story.first.id]  # what was done is shown all the same
    assert [d.at for d in bea.untold] == [NOW + 5 * HOUR]  # the dose she was not told about
    assert lines_of(story, second)[story.ann.id].line.status is NotificationStatus.NOTIFIED


def test_a_dose_of_a_lot_the_earlier_case_did_not_name_leaves_the_patient_pending(world):
    story = Story(world)
    other = reconstitute(world, world.container("botox", lot="NB2"))
    rh.give(world, rh.treat(world, story.ann, at=NOW + 4 * HOUR), other, "4", at=NOW + 4 * HOUR)
    second = story.open([story.lot.id, other.lot_id])

    lines = lines_of(story, second)

    assert lines[story.ann.id].line.status is NotificationStatus.PENDING
    assert [d.lot_id for d in lines[story.ann.id].untold] == [other.lot_id]
    assert lines[story.bea.id].line.status is NotificationStatus.NOTIFIED  # lot NB1 only: told already


def test_a_class_three_case_carries_the_notification_too(world):
    story = Story(world)

    lines = lines_of(story, story.open([story.lot.id], "III"))

    assert lines[story.ann.id].line.status is NotificationStatus.NOTIFIED
    assert lines[story.ned.id].line.status is NotificationStatus.NOT_REQUIRED


def test_a_line_worked_on_the_new_case_is_no_longer_carried_over(world):
    story = Story(world)
    second = story.open([story.lot.id])

    story.update(second, story.ann, "pending")  # the safety lead decides to tell her again
    ann = lines_of(story, second)[story.ann.id]

    assert (ann.line.status, ann.carried_from) == (NotificationStatus.PENDING, None)
    assert [n.case_id for n in ann.earlier] == [story.first.id]


def test_a_case_without_earlier_cases_reads_nothing_more(world, session):
    from tests.statements import recorded

    rh.share_toxins(world)
    vial = reconstitute(world, world.container("botox", lot="NB3"))
    rh.give(world, rh.treat(world, patient(world, "L-9")), vial, "4")
    case = services.open_recall(session, actor=world.users["safety"], lot_ids=[vial.lot_id], reason="notice",
                                recall_class="I", source="regulator", now=NOW)
    session.expire_all()
    with recorded(session) as sent:
        view = services.case_view(session, case.id, EVERYWHERE)
    assert view.patients[0].earlier == [] and view.patients[0].carried_from is None
    assert not [s for s, _ in sent if "recall_patients" in s and "recall_lots" in s]  # no look for earlier cases
