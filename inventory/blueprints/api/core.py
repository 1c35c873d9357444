"""The API's plumbing: one decorator per operation.

``@operation`` authenticates the bearer token, checks the role's permission,
parses and validates the JSON body with a pydantic model, replays retries that
carry an ``Idempotency-Key``, and serialises the answer with the response model.
The request's unit of work (inventory/unit_of_work.py) commits a success once,
idempotency record included. Every operation is recorded, so the OpenAPI document
is generated from the same models that validate requests.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, current_app, g, request
from pydantic import BaseModel, ConfigDict, ValidationError

from inventory.blueprints.errors import json_error
from inventory.errors import Forbidden, IdempotencyConflict, Unauthorized
from inventory.errors import ValidationError as DomainValidationError
from inventory.extensions import db
from inventory.models import IdempotencyRecord, User, utcnow
from inventory.services import auth, idempotency
from inventory.security import BodyTooDeep, request_json
from inventory.services.permissions import PUBLIC, Permission, Scope, require
from inventory.validators import check_text
from inventory.words import counted

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@dataclass
class Operation:
    method: str
    path: str  # OpenAPI form: /containers/{container_ref}
    endpoint: str
    summary: str
    permission: Permission | None  # None: no sign-in needed
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    idempotent: bool
    errors: tuple[int, ...]
    query: type[BaseModel] | None = None
    path_params: dict[str, str] = field(default_factory=dict)
    media_type: str = "application/json"


OPERATIONS: list[Operation] = []


def current_user() -> User:
    return g.api_user


def current_scope() -> Scope:
    return Scope.for_user(g.api_user)


def _authenticate(key: str = "", request_hash: str = "") -> tuple[User, int | None | object]:
    """The caller, and with a ``key`` the id of the idempotency record claimed for this request by the token's own
    statement (None: the key was claimed before; ``_NOT_CLAIMED`` without a key); raises Unauthorized (nothing
    claimed)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Sign in first: send 'Authorization: Bearer <token>'.")
    claimed: int | None | object = _NOT_CLAIMED
    if key:
        user, claimed = auth.user_for_token_claiming(
            db.session, token.strip(), now=utcnow(), key=key, request_hash=request_hash)
    else:
        user = auth.user_for_token(db.session, token.strip(), now=utcnow())
    if user is None:
        raise Unauthorized("This token is unknown, expired or revoked: sign in again.")
    return user, claimed


def _json_body() -> Any:
    raw = request.get_data(cache=True)
    if request.mimetype in _FORM_TYPES or (raw and request.mimetype and not request.is_json):
        # A form, or a body labelled as anything but JSON (text/plain, XML), is never read as JSON: answered
        # as such rather than as "Field required". A body sent with no Content-Type is read as JSON.
        return _NOT_JSON
    if not raw:
        return {}
    try:
        return request_json()
    except BodyTooDeep:
        raise  # 422: valid JSON, but no request of this API is shaped like that
    except (ValueError, UnicodeDecodeError):
        return _MALFORMED


# Keys are stored in a 200-character column: a longer one is refused, never cut (two keys that share
# their first 200 characters would otherwise replay each other's answers).
MAX_IDEMPOTENCY_KEY = 200


def _idempotency_key() -> str:
    # The one text check (validators.check_text): its refusal's ``fields`` give the problem without the field's name.
    key = request.headers.get("Idempotency-Key", "").strip()
    return check_text(key, what="Idempotency-Key", field="Idempotency-Key", max_length=MAX_IDEMPOTENCY_KEY) or ""


def _read_input(kwargs: dict[str, Any], body: type[BaseModel] | None, query: type[BaseModel] | None) -> Response | None:
    """Validates the request's body and query into ``kwargs`` (as ``body`` and ``query``); returns the
    answer refusing them, or None."""
    if body is not None:
        try:
            payload = _json_body()
        except BodyTooDeep as error:
            refused = DomainValidationError(str(error))
            return json_error(refused.status, refused.code, refused.message, refused.details)
        if payload is _MALFORMED:
            return json_error(400, "malformed_json", "The request body is not valid JSON.")
        if payload is _NOT_JSON:
            return json_error(415, "unsupported_media_type", "Send the body as JSON, with "
                              f"'Content-Type: application/json' (it came as {request.mimetype}).")
        try:
            # Strict: JSON's own types only (3, never true, 3.0 or "3"; true, never "yes" or 1), so no value is
            # read as another; dates and times, strings in JSON, are read by their types (schemas.Day, Moment).
            # The query below stays lax: a query string holds nothing but text.
            kwargs["body"] = body.model_validate(payload, strict=True)
        except ValidationError as error:
            return _validation_response(error)
    try:
        # Every query string is read by a model; an operation that takes none reads it by one without fields, so a
        # parameter it does not take is refused as everywhere, never ignored (an ignored filter answers more).
        parsed = (query or _NoQuery).model_validate(request.args.to_dict())
    except ValidationError as error:
        return _validation_response(error)
    if query is not None:
        kwargs["query"] = parsed
    return None


class _NoQuery(BaseModel):
    """The query of an operation that takes no parameter: any parameter is refused."""

    model_config = ConfigDict(extra="forbid")


def _good_idempotency_key() -> str:
    """The request's Idempotency-Key if ``_idempotency_key`` accepts it, else "" (refused there, later)."""
    try:
        return _idempotency_key()
    except DomainValidationError:
        return ""


_MALFORMED = object()
_NOT_JSON = object()
_NOT_CLAIMED = object()  # no statement has tried to claim the request's key yet
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _validation_response(error: ValidationError) -> Response:
    fields: list[dict[str, str]] = []
    for item in error.errors(include_url=False):
        field = ".".join(str(p) for p in item["loc"] if _names_a_field(p)) or "body"
        problem = plain_problem(item["type"], item["msg"], item.get("ctx") or {}, item.get("input"))
        if not any(f["field"] == field and f["problem"] == problem for f in fields):
            fields.append({"field": field, "problem": problem})
    first = fields[0]
    # The shape of a rule's ValidationError (inventory/errors.py): the first field, then each with its problem.
    return json_error(
        422, "validation_error", f"{first['field']}: {first['problem']}", {"field": first["field"], "fields": fields}
    )


def plain_problem(kind: str, message: str, ctx: dict[str, Any], given: Any = None) -> str:
    """A validation problem in words a nurse or an integrator reads without knowing pydantic ("cannot be empty",
    not "String should have at least 1 character"); a message a validator of Vialog's wrote is kept, without
    pydantic's "Value error, " in front of it. ``given``, what was sent, says what was wrong with it where the
    type alone does not (a body's id sent as true, "3" or 3.0)."""
    def count(n: Any, one: str) -> str:
        return counted(int(n), one)

    match kind:
        case "missing":
            return "required: it is missing from the request"
        case "string_too_short":
            return "cannot be empty" if ctx.get("min_length") == 1 else f"too short: at least {count(ctx['min_length'], 'character')}"
        case "string_too_long":
            return f"too long: at most {count(ctx['max_length'], 'character')}"
        case "too_short":
            return "name at least one" if ctx.get("min_length") == 1 else f"name at least {ctx['min_length']}"
        case "too_long":
            return f"too many: at most {ctx['max_length']}, not {ctx['actual_length']}"
        case "extra_forbidden":
            return "not a field of this request: leave it out"
        case "int_type" | "int_from_float":
            return "a whole number, such as 3" + _as_sent(given)
        case "int_parsing":
            return "a whole number, such as 3"
        case "float_parsing" | "float_type" | "decimal_parsing" | "decimal_type":
            return "a number, such as 4 or 0.1"
        case "bool_type":
            return "true or false" + _as_sent(given)
        case "bool_parsing":
            return "true or false"
        case "id_or_label":
            return "a container's id (a whole number, such as 3) or its label code" + _as_sent(given)
        case "string_type":
            return "text, in quotes"
        case "list_type":
            return "a list, in square brackets"
        case "dict_type" | "model_type" | "model_attributes_type":
            return "an object, in braces"
        case "date_type" if not isinstance(given, str):
            return 'a date in quotes, such as "2026-03-31"'
        case "date_parsing" if isinstance(given, str) and _DATE_WITH_TIME.match(given):
            return "a date, such as 2026-03-31, without a time"
        case "date_parsing" | "date_from_datetime_parsing" | "date_from_datetime_inexact" | "date_type":
            return "a date, such as 2026-03-31"
        case "date_value":
            return f"{given} is not a day of the calendar: a date, such as 2026-03-31"
        case "datetime_type" if not isinstance(given, str):
            return 'a date and time in quotes, such as "2026-03-31T14:30:00Z"'
        case "datetime_parsing" | "datetime_from_date_parsing" | "datetime_type":
            return "a date and time, such as 2026-03-31T14:30:00Z"
        case "timezone_aware":
            return "a date and time with its offset (Z, +01:00, -05:00), such as 2026-03-31T14:30:00Z"
        case "datetime_value":
            return f"{given} is not a moment of the calendar: a date and time, such as 2026-03-31T14:30:00Z"
        case "literal_error" | "enum":
            return f"one of {ctx['expected']}"
        case "greater_than":
            return f"more than {ctx['gt']}"
        case "greater_than_equal":
            return f"{ctx['ge']} or more"
        case "less_than":
            return f"less than {ctx['lt']}"
        case "less_than_equal":
            return f"{ctx['le']} or less"
        case "value_error":
            return message.removeprefix("Value error, ")
        case "assertion_error":
            return message.removeprefix("Assertion failed, ")
    return message


_DATE_WITH_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]")


def _as_sent(given: Any) -> str:
    """What a body sent in a type JSON has but the field does not take: the end of plain_problem's words."""
    if isinstance(given, bool):
        return ", not true or false"
    if isinstance(given, str):
        return ", not text in quotes"
    if isinstance(given, float):
        return ", without a decimal point"
    if isinstance(given, int):
        return ", not a number"
    if isinstance(given, list):
        return ", not a list"
    if isinstance(given, dict):
        return ", not an object"
    return ""


# What pydantic adds to a location inside a union ("container.function-before[check(), constrained-str]"):
# the member's type, which names no field a client sent.
_UNION_MEMBER_TAGS = frozenset({"int", "str", "float", "bool", "none", "decimal", "list", "dict"})


def _names_a_field(part: str | int) -> bool:
    return isinstance(part, int) or (part.isidentifier() and part not in _UNION_MEMBER_TAGS)


def _request_hash(body: BaseModel | None) -> str:
    """What makes a retry the same request: the method, the path and the body as validated (the fields it gave,
    in one order and spelling), so a client that serialises the same body again, keys reordered or spaced
    otherwise, gets the first answer. An operation that takes no body never reads one: a retry that sends
    none, or ``{}``, is the same request. Fields left out stay apart from fields given as their default: a
    PATCH tells the two apart."""
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b" " + request.path.encode() + b"\n")
    if body is not None:
        digest.update(body.model_dump_json(exclude_unset=True, exclude=set(idempotency.SECRET_FIELDS)).encode())
    return digest.hexdigest()


def _replay(record: IdempotencyRecord, request_hash: str) -> Response:
    if record.request_hash != request_hash:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used for a different request. Use a new key.",
            key=record.key,
        )
    return Response(record.response_body, status=record.status_code, mimetype="application/json")


def _claim_key(user: User, key: str, request_hash: str, claimed: int | None | object) -> Response | int:
    """Returns the stored answer for a retry, or the id of the record claimed for a first request.

    One statement claims the key: ``INSERT ... ON CONFLICT DO NOTHING RETURNING id``, before any work: the
    token's own (``claimed``, from ``_authenticate``) or, for an operation open to anyone, its own.
    A concurrent request with the same key waits on the unique index (PostgreSQL) or on the write lock
    (SQLite) until this transaction ends, finds the row then, and replays its answer.
    """
    session = db.session
    if claimed is _NOT_CLAIMED:
        claimed = idempotency.claim(session, user_id=user.id, key=key, request_hash=request_hash, now=utcnow())
    if isinstance(claimed, int):
        return claimed
    winner = idempotency.claimed_record(session, user_id=user.id, key=key)
    assert winner is not None and winner.status_code is not None  # a claim is committed with its answer
    return _replay(winner, request_hash)


def _save_answer(record_id: int, status: int, body: str) -> None:
    """The answer a retry of the claimed key gets: saved by the request's commit, with the work it answers for."""
    idempotency.save_answer(db.session, record_id, status, body)


def _path_to_openapi(rule: str) -> tuple[str, dict[str, str]]:
    params: dict[str, str] = {}

    def repl(match: re.Match[str]) -> str:
        converter, name = match.group(1), match.group(2)
        params[name] = "integer" if converter == "int" else "string"
        return "{" + name + "}"

    return re.sub(r"<(?:(\w+):)?(\w+)>", repl, rule), params


def operation(
    method: str,
    rule: str,
    *,
    summary: str,
    permission: Permission | None,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    idempotent: bool = False,
    errors: tuple[int, ...] = (),
    media_type: str = "application/json",
    access: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers an API operation. The view gets ``body``/``query`` models and path args,
    and returns a response model instance (or a Flask Response for files).

    ``access`` declares who may call an operation without a ``permission`` that checks its own caller
    (SIGNED_IN: a token or a page session); by default such an operation is PUBLIC."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        def handler(**path_args: Any) -> Any:
            kwargs: dict[str, Any] = dict(path_args)
            # The body and the query are read first, but a refusal of them is answered only once the caller
            # is known and allowed: a stranger gets 401 and a role without the permission 403, as before.
            refusal = _read_input(kwargs, body, query)
            claimed: int | None | object = _NOT_CLAIMED
            request_hash = ""
            if permission is not None:
                # A keyed write claims its key with the token's statement: one round trip for both. A refusal
                # below (403, the view's own) rolls the claim back with the request's work.
                early_key = _good_idempotency_key() if idempotent and refusal is None else ""
                request_hash = _request_hash(kwargs.get("body")) if early_key else ""
                g.api_user, claimed = _authenticate(early_key, request_hash)
                require(g.api_user, permission)
            if refusal is not None:
                return refusal
            key = _idempotency_key() if idempotent else ""  # a bad key is refused here, after 401 and 403
            record_id = None
            if key:
                if claimed is _NOT_CLAIMED:
                    request_hash = _request_hash(kwargs.get("body"))
                answer = _claim_key(g.api_user, key, request_hash, claimed)
                if isinstance(answer, Response):
                    return answer
                record_id = answer
            result = view(**kwargs)
            if isinstance(result, Response):
                return result
            payload_text = result.model_dump_json() if result is not None else "{}"
            if record_id is not None:
                _save_answer(record_id, status, payload_text)
            return Response(payload_text, status=status, mimetype="application/json")

        handler.__name__ = view.__name__
        handler.__doc__ = view.__doc__
        handler.access = access or permission or PUBLIC  # type: ignore[attr-defined]
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=handler, methods=[method])
        path, params = _path_to_openapi(rule)
        OPERATIONS.append(
            Operation(
                method=method.lower(), path=path, endpoint=view.__name__, summary=summary, permission=permission,
                body=body, query=query, response=response, status=status, idempotent=idempotent,
                errors=errors, path_params=params, media_type=media_type,
            )
        )
        return view

    return decorate


def forbid_unless(condition: bool, message: str) -> None:
    if not condition:
        raise Forbidden(message)


def config_value(name: str) -> Any:
    return current_app.config[name]
