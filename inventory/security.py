"""HTTP hardening: security headers and a Content-Security-Policy the pages satisfy.

The pages load one script and one stylesheet from /static and use no inline script
or style, so the policy can forbid both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Flask, Response, request
from werkzeug.exceptions import RequestHeaderFieldsTooLarge, RequestURITooLarge

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
    """A JSON body nested deeper than any Vialog request needs."""


def load_json(raw: bytes | str) -> Any:
    """``json.loads`` for request bodies: refuses nesting deeper than MAX_JSON_DEPTH (BodyTooDeep) before
    the parser recurses, so a hostile body can never raise RecursionError. ValueError when not JSON."""
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
    return json.loads(text_value)


_PARSED_JSON = "vialog.parsed_json"


def request_json() -> Any:
    """The request body parsed by ``load_json``, once per request: the guard below and the API both read
    it. Raises what ``load_json`` raises (BodyTooDeep, ValueError, UnicodeDecodeError), every time asked."""
    parsed = request.environ.get(_PARSED_JSON)  # the request's own: an app context (g) may span requests in tests
    if parsed is None:
        try:
            parsed = (load_json(request.get_data(cache=True)), None)
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


def refuse_unsafe_input() -> None:
    """No text Vialog receives may hold control characters (PostgreSQL refuses NUL; XML, so every xlsx
    export, refuses the others), lone surrogates or non-characters: refuse them at the door, whatever
    the content type, before any view parses them. Also refuses over-long URLs (414) and headers (431).

    Raises ValidationError (422) naming the parameter, RequestURITooLarge or RequestHeaderFieldsTooLarge.
    """
    if len(request.full_path) > MAX_URL_LENGTH:
        raise RequestURITooLarge(f"The address is longer than {MAX_URL_LENGTH} characters.")
    if sum(len(k) + len(v) for k, v in request.headers.items()) > MAX_HEADERS_BYTES:
        raise RequestHeaderFieldsTooLarge(f"The request headers are larger than {MAX_HEADERS_BYTES} bytes.")
    named = [(key, value) for key, value in (request.view_args or {}).items() if isinstance(value, str)]
    for source in (request.args, request.form):
        for key, values in source.lists():
            named += [(key, key)] + [(key, v) for v in values]
    for name, value in named:
        problem = _unsafe(value)
        if problem is not None:
            raise ValidationError(f"{name}: {problem}.", field=name)
    raw = request.get_data(cache=True) if (request.is_json or request.path.startswith("/api/")) else b""
    if raw:
        try:
            payload = request_json()
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
                raise ValidationError(f"The request body: a text value {problem}.", field="body")


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
