"""The OpenAPI 3.1 document, generated from the registered operations and their pydantic models."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from inventory import MAX_DATABASE_ID
from inventory.blueprints.api.core import MAX_IDEMPOTENCY_KEY, OPERATIONS, bp
from inventory.blueprints.api.schemas import ErrorOut
from inventory.services.permissions import PUBLIC

_STATUS_TEXT = {400: "Malformed JSON", 401: "Not signed in", 403: "Role may not", 404: "Unknown",
                409: "A rule refused it", 413: "Body too large", 422: "Invalid values"}


def _path_schema(kind: str) -> dict[str, Any]:
    if kind == "integer":
        return {"type": "integer", "minimum": 1, "maximum": MAX_DATABASE_ID}
    return {"type": "string", "minLength": 1, "maxLength": 64}


def build_document() -> dict[str, Any]:
    models: set[type[BaseModel]] = {ErrorOut}
    for op in OPERATIONS:
        models.update(m for m in (op.body, op.response) if m is not None)
    keyed: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (m, mode) for m in sorted(models, key=lambda m: m.__name__) for mode in ("validation", "serialization")
    ]
    refs, schemas = models_json_schema(keyed, ref_template="#/components/schemas/{model}")

    def ref(model: Any, mode: JsonSchemaMode) -> dict[str, Any]:
        return refs[(model, mode)]

    error_content = {"application/json": {"schema": ref(ErrorOut, "serialization")}}
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        responses: dict[str, Any] = {}
        if op.media_type == "application/json":
            content = {"application/json": {"schema": ref(op.response, "serialization")}} if op.response else {}
            responses[str(op.status)] = {"description": op.summary, "content": content}
        else:
            responses[str(op.status)] = {
                "description": op.summary, "content": {op.media_type: {"schema": {"type": "string", "format": "binary"}}}
            }
        error_statuses = set(op.errors) | ({401, 403} if op.permission else set()) | ({400, 413, 422} if op.body else set())
        if op.query is not None or op.idempotent or "string" in op.path_params.values():
            error_statuses.add(422)  # a value the request guard or a validator refuses (inventory/security.py)
        if op.idempotent:
            error_statuses.add(409)
        for status in sorted(error_statuses):
            responses[str(status)] = {"description": _STATUS_TEXT.get(status, "Error"), "content": error_content}
        spec: dict[str, Any] = {"operationId": op.endpoint, "summary": op.summary, "responses": responses}
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": _path_schema(kind)}
            for name, kind in op.path_params.items()
        ]
        if op.query is not None:
            # Each parameter's schema is its field's: the limits the document states are the validator's.
            properties = op.query.model_json_schema().get("properties", {})
            for name, field in op.query.model_fields.items():
                schema = {k: v for k, v in properties.get(field.alias or name, {}).items() if k not in {"title", "default"}}
                branches = [b for b in schema.pop("anyOf", []) if b != {"type": "null"}]
                if len(branches) == 1:
                    schema |= branches[0]  # an optional parameter is left out, never sent as null
                elif branches:
                    schema["anyOf"] = branches
                if not schema or "$ref" in str(schema):
                    schema = {"type": "string", "maxLength": 40}
                parameters.append({"name": field.alias or name, "in": "query", "required": field.is_required(),
                                   "schema": schema})
        if op.idempotent:
            parameters.append({"name": "Idempotency-Key", "in": "header", "required": False,
                               "schema": {"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY}})
        if parameters:
            spec["parameters"] = parameters
        if op.body is not None:
            spec["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(op.body, "validation")}}}
        if op.permission is not None:
            spec["security"] = [{"bearer": []}]
            spec["x-vialog-permission"] = op.permission.value
        paths.setdefault("/api/v1" + op.path, {})[op.method] = spec
    return {
        "openapi": "3.1.0",
        "info": {"title": "Vialog API", "version": "1",
                 "description": "Inventory and lot traceability for aesthetic clinics."},
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(build_document())


openapi_document.access = PUBLIC  # type: ignore[attr-defined]
