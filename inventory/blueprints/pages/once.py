"""A page form that writes is recorded once, however often it reaches the server.

Each such form carries a one-time key made when the page is rendered (``FormKeyField``, hidden). The view
claims it for the signed-in user in the API's idempotency table (inventory/services/idempotency.py), under
``PAGE_PREFIX``, just before its service call: ``claim_form_key()``. A second submit of the same key (a second
click while the first request was slow, a browser's retry) records nothing and lands where the first one did,
with a neutral flash. The claim is part of the request's unit of work: a refused submit (a form error, a dose to
confirm, a rule) rolls it back with the rest, so the form re-rendered with what was typed keeps a key that is
still good for the corrected submit. A form sent without a key (a page rendered before keys existed, a script)
is recorded as before.

A form answered at its own address (the page shown again with a refusal or a question, a 200 or a 4xx to a POST)
can be sent again by the browser long after: Back to that answer, then Reload. By then the corrected form may have
done what the first could not (the patient it asked a name for is on file now), and the first, evaluated afresh,
would do it a second time. Such a view keeps its claim despite the refusal (``keep_answered``) and shows the form
again with a new key: the resent first form records nothing, the nurse's next submit is a form of its own.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from flask import flash, redirect, request
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response
from wtforms import HiddenField

from inventory import unit_of_work
from inventory.blueprints.pages.core import bp
from inventory.extensions import db
from inventory.models import utcnow
from inventory.services import idempotency

FIELD = "form_key"
ALREADY_RECORDED = "Already recorded: this form was sent twice."
# A repeat of a form that was answered without recording (keep_answered): nothing of it was recorded the first time.
ALREADY_ANSWERED = "This form was already sent and answered: sending it again did nothing."
# The status a kept refusal's claim is saved with: a page's recorded answers are all below 400 (the unit of work
# commits nothing else), so a claim at or above it is one that recorded nothing.
_ANSWERED_UNRECORDED = 409
# What new_form_key makes; anything else in the field (tampered, cut short) is no key. Claimed with the
# form's content (_claimed_key): prefix + key + ":" + 16 hex, well inside the table's 200 characters.
_KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_form_key() -> str:
    return secrets.token_urlsafe(24)


class FormKeyField(HiddenField):
    """The form's one-time key: a fresh one each time the form is rendered empty, the posted one when a refused
    form is rendered again as typed (its claim was rolled back with the refusal)."""

    def __init__(self, label: str | None = None, **kwargs: object) -> None:
        super().__init__(label, default=new_form_key, **kwargs)


@bp.app_template_global("once_key")
def kept_or_new_key(endpoint: str | None = None) -> str:
    """The one-time key of a form written as plain HTML (no FlaskForm, so no FormKeyField), for its hidden
    ``form_key`` input: the posted key when this page answers a refused submit of the form posting to
    ``endpoint`` and shows it again as typed (its claim was rolled back with the refusal), else a fresh one (one
    per call: each form of a table's rows gets its own). A page that answers a recorded submit in place (a
    logger import shows its readings) holds the claimed key: a fresh one there."""
    posted = request.form.get(FIELD, "")
    if (endpoint is not None and request.method == "POST" and request.endpoint == endpoint
            and _KEY_SHAPE.fullmatch(posted)
            and idempotency.claimed_record(db.session, user_id=current_user.id, key=_claimed_key(posted)) is None):
        return posted
    return new_form_key()


class OnceForm(FlaskForm):
    """A form with nothing to fill in but a button (close a treatment, waste what is past beyond-use)."""

    form_key = FormKeyField()


class SentTwice(Exception):
    """The form's key was claimed before: the request is a repeat. Answered by the handler below, which sends the
    user where the first submit landed; nothing of the repeat is kept (the unit of work discards it)."""

    def __init__(self, location: str, message: str = ALREADY_RECORDED) -> None:
        super().__init__(location)
        self.location = location
        self.message = message


@bp.app_errorhandler(SentTwice)
def _sent_twice(repeat: SentTwice) -> Response:
    flash(repeat.message, "info")
    return redirect(repeat.location)


def claim_form_key(default_location: str) -> int | None:
    """Claims the posted form's key for the signed-in user, just before the view does its work.

    Returns the id of the claim (answer with ``answered``), or None when the form carried no key. Raises SentTwice
    when the key was claimed before: the view stops there, and the user lands where the first submit landed
    (``default_location`` if that is not known), told ``ALREADY_RECORDED`` (``ALREADY_ANSWERED`` when the first
    recorded nothing: ``keep_answered``).
    """
    posted = request.form.get(FIELD, "")
    if not _KEY_SHAPE.fullmatch(posted):
        return None
    key = _claimed_key(posted)
    session = db.session
    claimed = idempotency.claim(session, user_id=current_user.id, key=key, request_hash=_request_hash(),
                                now=utcnow())
    if claimed is not None:
        return claimed
    first = idempotency.claimed_record(session, user_id=current_user.id, key=key)
    if first is None:
        raise SentTwice(default_location)
    unrecorded = first.status_code is not None and first.status_code >= _ANSWERED_UNRECORDED
    raise SentTwice(first.response_body or default_location, ALREADY_ANSWERED if unrecorded else ALREADY_RECORDED)


def answered(claim: int | None, response: Response, *, repeat_lands: str | None = None) -> Response:
    """Saves where ``response`` takes the user as the claim's answer (a repeat lands there too), returns it.
    ``repeat_lands``: where a repeat goes when ``response`` is the page itself, not a redirect (a logger import
    answered with its readings)."""
    if claim is not None:
        idempotency.save_answer(db.session, claim, response.status_code,
                                repeat_lands or response.location or request.path)
    return response


def keep_answered(claim: int | None, *, lands: str) -> str:
    """Keeps the claim of a form refused and answered at its own address (see above), rolled back with the refused
    work: it is written again, alone, once the request's own work is discarded, with ``lands`` as where a repeat
    goes (told ``ALREADY_ANSWERED``). Returns the new key for the form shown again."""
    if claim is not None:
        user_id, key, request_hash, now = current_user.id, _claimed_key(request.form[FIELD]), _request_hash(), utcnow()

        def claim_again(session: Session) -> None:
            kept = idempotency.claim(session, user_id=user_id, key=key, request_hash=request_hash, now=now)
            if kept is not None:  # else a repeat sent meanwhile claimed it first: it has its own answer
                idempotency.save_answer(session, kept, _ANSWERED_UNRECORDED, lands)

        unit_of_work.record_despite_refusal(claim_again)
    return new_form_key()


def _claimed_key(posted: str) -> str:
    """What a form's key is claimed as: the key with what the form sent. A repeat sends both again; a different
    submission carrying a key already used (a page brought back with Back and sent anew, a form shown again as
    typed after its key was used) is not a repeat, and is recorded under a claim of its own."""
    return f"{idempotency.PAGE_PREFIX}{posted}:{_request_hash()[:16]}"


def _request_hash() -> str:
    """The request as a repeat sends it again: method, path and every field but the token and the key. Never the
    API's (which starts with the method and an /api/v1 path): an API key can never replay a page's."""
    fields = sorted((name, values) for name, values in request.form.lists() if name not in _NOT_CONTENT)
    return hashlib.sha256(repr((f"page {request.method} {request.path}", fields)).encode()).hexdigest()


_NOT_CONTENT = frozenset({FIELD, "csrf_token", *idempotency.SECRET_FIELDS})
