"""HTTP hardening: security headers and a Content-Security-Policy the pages satisfy.

The pages load one script and one stylesheet from /static and use no inline script
or style, so the policy can forbid both.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge, RequestHeaderFieldsTooLarge, RequestURITooLarge
from werkzeug.wsgi import LimitedStream

from inventory.errors import ValidationError
from inventory.validators import text_problem

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


# What the request guard lets through in any text: tab and line breaks (notes), and GS, the separator a
# scanner sends inside GS1 codes. Every field then applies its own, stricter check (inventory/validators.py).
_GUARD_ALLOWED = str.maketrans("", "", "\t\n\r\x1d")
MAX_JSON_DEPTH = 32
MAX_URL_LENGTH = 4096  # below gunicorn's request line limit (vialog serve sets 8190), so the app answers
MAX_HEADERS_BYTES = 16384


_JSON_STRUCTURE = re.compile(r'["\\\[\]{}]')


class BodyTooDeep(ValueError):
    """Valid JSON that no Vialog request can take (422, not a malformed body's 400): nested deeper than any
    request needs, or (NumberTooLarge) holding a number no field takes."""


class NumberTooLarge(BodyTooDeep):
    """A JSON number Python cannot hold (an integer of more digits than the interpreter converts, a float
    beyond its range): ``field`` names where it stands ("lines.0.counted"; "body" for the body itself)."""

    def __init__(self, field: str, number: _HugeNumber) -> None:
        self.field = field
        self.problem = f"{number.words}, far larger than any value Vialog takes: check the number"
        super().__init__(f"{field}: {self.problem}.")


class _HugeNumber:
    """Stands for a number too large to hold while the body is parsed: ``load_json`` then says where it is."""

    def __init__(self, text: str, *, whole: bool) -> None:
        digits = sum(c.isdigit() for c in text)
        self.words = f"a whole number of {digits} digits" if whole else "a number beyond what a computer holds"


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity, -Infinity: Python's extension, not RFC 8259


def _huge_number_at(value: Any) -> str | None:
    """Where the first _HugeNumber in a parsed body stands, as the API names fields ("lines.0.counted"); None
    when none is left (a key given twice keeps its last value)."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, _HugeNumber):
            return ".".join(str(p) for p in path) or "body"
        if isinstance(item, dict):
            stack.extend(((*path, k), v) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(item))))
    return None


def load_json(raw: bytes | str) -> Any:
    """``json.loads`` for request bodies: refuses nesting deeper than MAX_JSON_DEPTH (BodyTooDeep) before
    the parser recurses, so a hostile body can never raise RecursionError, and a number too large to hold
    (NumberTooLarge, naming its field). ValueError when not JSON: also ``NaN`` and ``Infinity``, which
    Python's parser accepts but JSON does not have."""
    text_value = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    depth = skip = 0
    in_string = False
    for match in _JSON_STRUCTURE.finditer(text_value):  # only quotes, backslashes and brackets: C speed
        at, char = match.start(), match.group()
        if at < skip:
            continue  # the character a backslash escapes
        if in_string:
            if char == "\\":
                skip = at + 2
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise BodyTooDeep(f"The request body is nested more than {MAX_JSON_DEPTH} levels deep.")
        elif char in "]}":
            depth -= 1
    huge: list[_HugeNumber] = []

    def parse_int(text: str) -> int | _HugeNumber:
        try:
            return int(text)
        except ValueError:  # more digits than the interpreter converts (sys.get_int_max_str_digits)
            huge.append(_HugeNumber(text, whole=True))
            return huge[-1]

    def parse_float(text: str) -> float | _HugeNumber:
        number = float(text)
        if math.isinf(number):  # 1e999: beyond any float
            huge.append(_HugeNumber(text, whole=False))
            return huge[-1]
        return number

    value = json.loads(text_value, parse_int=parse_int, parse_float=parse_float, parse_constant=_refuse_constant)
    if huge:
        raise NumberTooLarge(_huge_number_at(value) or "body", huge[0])
    return value


_PARSED_JSON = "vialog.parsed_json"
_OVER_LIMIT = "vialog.body_over_limit"


def request_body() -> bytes:
    """The request body, read once (``get_data(cache=True)``): every reader of it comes through here, and
    every one sees the same verdict on its size (``refuse_body_over_limit``)."""
    data = request.get_data(cache=True)
    refuse_body_over_limit()
    return data


def refuse_body_over_limit() -> None:
    """RequestEntityTooLarge (413) for a body larger than MAX_CONTENT_LENGTH sent without Content-Length
    (``Transfer-Encoding: chunked``), as for one whose Content-Length is over it; the same verdict every time
    asked.

    Werkzeug 3 reads such a body through a LimitedStream that stops at the limit without a word: only a read
    *past* the limit raises, and ``get_data`` (as the url-encoded form parser) stops at it, so the first
    megabyte would be taken for the whole body. A body that filled the limit is asked for one byte more, from
    the server's own stream (one that ends the body, ``wsgi.input_terminated``, as gunicorn and werkzeug's
    server set for a chunked body). Its rest is then read and dropped (up to a bound), so that the client
    reads the 413 rather than a connection reset. A body not read yet is read here (cached, so a form parser
    after this reads it from memory)."""
    over = request.environ.get(_OVER_LIMIT)
    if over is None:
        limit = request.max_content_length
        over = False
        if limit is not None and request.content_length is None and request.environ.get("wsgi.input_terminated"):
            stream = request.stream
            if isinstance(stream, LimitedStream):
                if stream.tell() < limit:  # read it now, unless a form parser read it already: how far it went
                    request.get_data(cache=True)
                over = stream.tell() >= limit and _rest_of_body(limit)
        request.environ[_OVER_LIMIT] = over
    if over:
        raise RequestEntityTooLarge()


def _rest_of_body(limit: int) -> bool:
    """Whether the server's stream holds anything past the ``limit`` bytes read; drains up to 16 times the
    limit more (a client sending more than that is cut off; the answer is 413 all the same)."""
    stream = request.environ["wsgi.input"]
    if not stream.read(1):
        return False
    drained = 0
    while drained < 16 * limit and (chunk := stream.read(64 * 1024)):
        drained += len(chunk)
    return True


def request_json() -> Any:
    """The request body parsed by ``load_json``, once per request: the guard below and the API both read
    it. Raises what ``load_json`` raises (BodyTooDeep, ValueError, UnicodeDecodeError), every time asked,
    and RequestEntityTooLarge for a body over the limit (``request_body``)."""
    parsed = request.environ.get(_PARSED_JSON)  # the request's own: an app context (g) may span requests in tests
    if parsed is None:
        try:
            parsed = (load_json(request_body()), None)
        except (ValueError, UnicodeDecodeError) as refused:
            parsed = (None, refused)
        request.environ[_PARSED_JSON] = parsed
    value, problem = parsed
    if problem is not None:
        raise problem
    return value


def _strings(value: Any) -> Iterator[str]:
    """Every key and string inside a parsed JSON value, without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _unsafe(value: str) -> str | None:
    return text_problem(value.translate(_GUARD_ALLOWED), multiline=True, max_length=len(value))


# How a message names a part of the address a route reads (a path parameter): as the person reads the address,
# not by the route's internal name. ``field`` in the details keeps the parameter's name, for programs.
_PATH_PARAMETER_WORDS = {"container_ref": "The container in the address"}


def _refusal(field: str, said: str, problem: str) -> ValidationError:
    """A 422 whose message says what is wrong where (``said``: how a reader names that part of the request) and
    whose ``fields`` give the problem alone, without the field's name again."""
    return ValidationError(f"{said} {problem}.", field=field, fields=[{"field": field, "problem": problem}])


def refuse_unsafe_input() -> None:
    """No text Vialog receives may hold control characters (PostgreSQL refuses NUL; XML, so every xlsx
    export, refuses the others), lone surrogates or non-characters: refuse them at the door, whatever
    the content type, before any view parses them. Also refuses over-long URLs (414) and headers (431),
    a body over the size limit however it is sent (413, ``refuse_body_over_limit``), and a JSON number too
    large to hold (422 naming its field, ``NumberTooLarge``).

    Raises ValidationError (422) naming the parameter, RequestURITooLarge, RequestHeaderFieldsTooLarge or
    RequestEntityTooLarge.
    """
    if len(request.full_path) > MAX_URL_LENGTH:
        raise RequestURITooLarge(f"The address is longer than {MAX_URL_LENGTH} characters.")
    if sum(len(k) + len(v) for k, v in request.headers.items()) > MAX_HEADERS_BYTES:
        raise RequestHeaderFieldsTooLarge(f"The request headers are larger than {MAX_HEADERS_BYTES} bytes.")
    refuse_body_over_limit()
    # (field, value, how the message names it)
    named = [(key, value, _PATH_PARAMETER_WORDS.get(key, f"The {key.replace('_', ' ')} in the address"))
             for key, value in (request.view_args or {}).items() if isinstance(value, str)]
    for source, where in ((request.args, "in the address"), (request.form, "of the form")):
        for key, values in source.lists():
            named += [(key, key, f"A parameter name {where}")] + [(key, v, f"{key}:") for v in values]
    for name, value, said in named:
        problem = _unsafe(value)
        if problem is not None:
            raise _refusal(name, said, problem)
    raw = request_body() if (request.is_json or request.path.startswith("/api/")) else b""
    if raw:
        try:
            payload = request_json()
        except NumberTooLarge as error:
            raise _refusal(error.field, f"{error.field}:", error.problem) from None
        except (ValueError, UnicodeDecodeError):
            return  # malformed or too deep: the API layer answers that itself (400 / 422)
        if b"\\" not in raw and _unsafe(raw.decode(errors="replace")) is None:
            # Without a backslash no text in the body is escaped: each is a stretch of the body itself, which
            # one scan found clean (every body a scanner sends; one C-speed pass instead of one per text). A
            # UTF-16 or UTF-32 body reads here as NULs, so it takes the text-by-text check below.
            return
        for value in _strings(payload):
            problem = _unsafe(value)
            if problem is not None:
                raise _refusal("body", "The request body:", f"a text value {problem}")


_SAFE_PATH_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/?=&%+:@!$'()*,;#")


def safe_redirect_target(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None: the one check for every redirect to a place
    a request named (``?next=``). Only printable ASCII without spaces or backslashes (browsers drop tabs
    and line breaks and read ``\\`` as ``/``, so ``/%09/evil.example`` and ``/\\evil.example`` are
    ``//evil.example``); one leading slash, never two; no scheme or host once parsed, also after one
    round of percent-decoding (a proxy or a second redirect may decode it)."""
    if not target or len(target) > 2000 or not set(target) <= _SAFE_PATH_CHARS:
        return None
    for candidate in (target, unquote(target)):
        if "\\" in candidate or any(ord(c) < 0x20 or ord(c) == 0x7F for c in candidate):
            return None
        if not candidate.startswith("/") or candidate.startswith("//"):
            return None
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return None
    return target


def init_security(app: Flask) -> None:
    # A body over the size limit is refused before any other hook reads it (CSRF reads a page's form first).
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_body_over_limit)
    app.before_request(refuse_unsafe_input)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.path.startswith("/api/") or response.mimetype == "text/html":
            # Patient data and tokens must not sit in shared caches.
            headers.setdefault("Cache-Control", "no-store")
        return response
