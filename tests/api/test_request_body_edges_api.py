"""Request bodies at their edges (API QA): a chunked body over the size limit, JSON's own edge cases (NaN,
Infinity, numbers too large to hold), the error shape's ``details`` always there, and refusals whose ``problem``
does not repeat the field, with a path parameter named as a reader sees it."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select

from inventory.models import Patient
from inventory.security import load_json
from tests.api.conftest import error_code
from tests.factories import PASSWORD, patient
from tests.pages.conftest import csrf_token


def chunked(api_client, path: str, body: bytes, headers: dict[str, str] | None = None,
            content_type: str = "application/json"):
    """``body`` sent as a chunked request is: no Content-Length, and a server stream that ends the body
    (``wsgi.input_terminated``, as gunicorn and werkzeug's own server set for ``Transfer-Encoding: chunked``)."""
    merged = api_client._headers(headers) | {"Content-Type": content_type, "Transfer-Encoding": "chunked"}
    return api_client.client.post("/api/v1" + path, input_stream=io.BytesIO(body), headers=merged,
                                  environ_overrides={"wsgi.input_terminated": True})


def padded(value: dict, size: int, tail: bytes = b"") -> bytes:
    """``value`` as JSON, padded with spaces to ``size`` bytes, then ``tail``."""
    text = json.dumps(value).encode()
    return text + b" " * (size - len(text)) + tail


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:400]
    assert error_code(response) == code
    return response.get_json()["error"]


def patient_count(session) -> int:
    return session.scalar(select(func.count(Patient.id)))


# --- 1. a chunked body over the limit ------------------------------------------------------------------------


def test_a_chunked_body_whose_first_megabyte_is_valid_json_is_413_not_read_cut(app, api, session, world):
    """QA: the first 1,048,576 bytes of a chunked body were taken for the whole body (200, the rest ignored)."""
    limit = app.config["MAX_CONTENT_LENGTH"]
    nurse = api("nurse")
    before = patient_count(session)
    body = padded({"external_ref": "CHUNK-1", "name": "Ada"}, limit, b"and the rest of it")
    error = error_of(chunked(nurse, "/patients", body, {"Idempotency-Key": "chunk-1"}), 413, "payload_too_large")
    assert error["details"] == {"max_bytes": limit}
    assert patient_count(session) == before
    # Asked again under the same key, nothing was kept from the first: still refused, never replayed as done.
    error_of(chunked(nurse, "/patients", body, {"Idempotency-Key": "chunk-1"}), 413, "payload_too_large")
    assert patient_count(session) == before


def test_a_chunked_json_body_over_the_limit_is_413_not_malformed(app, api):
    """QA: a 1.05 MB chunked body answered 400 malformed_json (cut in the middle of a string)."""
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = json.dumps({"code": "x" * (limit + limit // 20)}).encode()
    error_of(chunked(api("nurse"), "/scans", body), 413, "payload_too_large")


def test_a_chunked_body_of_exactly_the_limit_is_read_whole(app, api, session, world):
    limit = app.config["MAX_CONTENT_LENGTH"]
    created = chunked(api("nurse"), "/patients", padded({"external_ref": "CHUNK-2", "name": "Ada"}, limit))
    assert created.status_code == 201, created.get_data(as_text=True)[:300]
    assert created.get_json()["external_ref"] == "CHUNK-2"


def test_a_chunked_page_form_over_the_limit_is_413(app, session, world):
    """A page's form, read first by the CSRF check, takes the same verdict as the API's body."""
    limit = app.config["MAX_CONTENT_LENGTH"]
    client = app.test_client()
    token = csrf_token(client, "/login")
    form = f"csrf_token={token}&username=nurse&password={PASSWORD}&padding=".encode()
    response = client.post("/login", input_stream=io.BytesIO(form + b"p" * limit),
                           headers={"Content-Type": "application/x-www-form-urlencoded",
                                    "Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413


# --- 2. JSON's edge cases -------------------------------------------------------------------------------------


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(api, session, world, constant):
    """QA: Python's parser took NaN and Infinity, which JSON does not have."""
    nurse = api("nurse")
    error_of(nurse.post("/scans", f'{{"code": {constant}}}'), 400, "malformed_json")
    error_of(nurse.post("/treatments", f'{{"patient_id": 1, "location_id": {constant}}}'), 400, "malformed_json")
    with pytest.raises(ValueError, match="not JSON"):
        load_json(f"[{constant}]")


def test_a_number_too_large_to_hold_is_a_validation_error_naming_its_field(api, session, world):
    """QA: a valid 5000-digit integer answered 400 malformed_json (Python's int-string limit)."""
    nurse = api("nurse")
    ann = patient(world, "BIG-1")
    huge = "9" * 5000
    error = error_of(nurse.post("/treatments", f'{{"patient_id": {huge}, "location_id": 1}}'), 422,
                     "validation_error")
    problem = "a whole number of 5000 digits, far larger than any value Vialog takes: check the number"
    assert error["details"] == {"field": "patient_id", "fields": [{"field": "patient_id", "problem": problem}]}
    assert error["message"] == f"patient_id: {problem}."
    nested = error_of(nurse.post("/treatments", f'{{"patient_id": {ann.id}, "location_id": [1, {{"a": {huge}}}]}}'),
                      422, "validation_error")
    assert nested["details"]["field"] == "location_id.1.a"
    beyond_float = error_of(nurse.post("/treatments", f'{{"patient_id": {ann.id}, "location_id": 1e999}}'), 422,
                            "validation_error")
    assert beyond_float["details"]["field"] == "location_id"
    assert "a number beyond what a computer holds" in beyond_float["message"]
    alone = error_of(nurse.post("/scans", huge), 422, "validation_error")
    assert alone["details"]["field"] == "body"


def test_load_json_says_where_a_huge_number_stands():
    from inventory.security import NumberTooLarge

    with pytest.raises(NumberTooLarge) as refused:
        load_json('{"lines": [{"counted": "1"}, {"counted": ' + "1" * 4400 + "}]}")
    assert refused.value.field == "lines.1.counted"
    with pytest.raises(NumberTooLarge) as twice:  # a key given twice keeps its last value: the body is named
        load_json('{"a": 1e999, "a": 1}')
    assert twice.value.field == "body"
    assert load_json('{"a": 12345678901234567890, "b": 0.5}') == {"a": 12345678901234567890, "b": 0.5}


# --- 3. details always there --------------------------------------------------------------------------------


def test_every_error_body_has_details_an_empty_object_when_there_is_nothing(app, api, session, world):
    """QA: codes without details left the key out, where API.md's one shape shows ``"details": {...}``."""
    nurse = api("nurse")
    answers = {
        "unauthorized": api().get("/clinics"),
        "malformed_json": nurse.post("/scans", "{not json"),
        "method_not_allowed": app.test_client().delete("/api/v1/scans"),
        "unsupported_media_type": nurse.client.post("/api/v1/scans", data="code=x", headers=nurse._headers(None),
                                                    content_type="text/plain"),
        "uri_too_long": nurse.get("/clinics?x=" + "a" * 5000),
        "headers_too_large": nurse.get("/clinics", headers={"X-Padding": "p" * 17000}),
        "not_found": nurse.get("/no-such-thing"),
    }
    for code, response in answers.items():
        body = response.get_json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, (code, body)
        assert body["error"]["code"] == code and body["error"]["details"] == {}, (code, body)


# --- 5. a problem says what is wrong, not which field again ---------------------------------------------------


def test_a_path_parameter_is_named_as_the_reader_sees_it(api, session, world):
    """QA: "container_ref: contains the invisible character U+0000 ...": the route's internal name, twice."""
    error = error_of(api("nurse").get("/containers/VL%00123"), 422, "validation_error")
    problem = "contains the invisible character U+0000 (NUL): retype it rather than paste it"
    assert error["message"] == f"The container in the address {problem}."
    assert error["details"] == {"field": "container_ref", "fields": [{"field": "container_ref", "problem": problem}]}


def test_a_query_parameter_and_a_body_text_say_their_problem_once(api, session, world):
    nurse = api("nurse")
    query = error_of(nurse.get("/lots?number=A%01B"), 422, "validation_error")
    problem = "contains the invisible character U+0001: retype it rather than paste it"
    assert query["message"] == f"number: {problem}."
    assert query["details"]["fields"] == [{"field": "number", "problem": problem}]
    body = error_of(nurse.post("/patients", {"external_ref": "P\u0000", "name": "Ada"}), 422, "validation_error")
    assert body["details"]["fields"] == [{"field": "body", "problem": "a text value contains the invisible "
                                                                      "character U+0000 (NUL): retype it rather than "
                                                                      "paste it"}]


def test_a_text_rule_says_its_problem_without_the_field(api, session, world):
    ann = patient(world, "TXT-1")
    error = error_of(api("nurse").patch(f"/patients/{ann.id}", {"phone": "+44\t20 7946 0000"}), 422,
                     "validation_error")
    problem = "contains the invisible character U+0009 (this field takes one line): retype it rather than paste it"
    assert error["message"] == f"Phone: {problem}."
    assert error["details"] == {"field": "phone", "fields": [{"field": "phone", "problem": problem}]}
