"""HTTP hardening: security headers and a Content-Security-Policy the pages satisfy.

The pages load one script and one stylesheet from /static and use no inline script
or style, so the policy can forbid both.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, request

from inventory.errors import ValidationError

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


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


def refuse_nul_characters() -> None:
    """No text Vialog stores may hold NUL (PostgreSQL refuses it); refuse it at the door.

    Raises ValidationError (422) for any query, form or JSON value that contains one.
    """
    values: list[Any] = list(request.args.values()) + list(request.form.values())
    if request.is_json:
        try:
            values.append(json.loads(request.get_data(cache=True) or b"null"))
        except ValueError:
            pass  # malformed JSON gets its own answer from the API layer
    if any(_contains_nul(v) for v in values):
        raise ValidationError("Text may not contain the NUL character: check what the scanner or form sent.")


def init_security(app: Flask) -> None:
    app.before_request(refuse_nul_characters)

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
