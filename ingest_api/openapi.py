"""OpenAPI description of the delivery routes (served by a plain ASGI endpoint, see app.py)."""

from __future__ import annotations

from typing import Any

_ERROR = {"type": "object", "properties": {"error": {"type": "string"},
                                           "delivery_id": {"type": "string"}},
          "required": ["error"]}
_STORED = {"type": "object", "properties": {"status": {"const": "stored"},
                                            "delivery_id": {"type": "string"}},
           "required": ["status", "delivery_id"]}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_RESPONSES = {
    "200": _json(_STORED, "Stored durably (fsynced) in landing"),
    "400": _json(_ERROR, "Not a JSON object; stored anyway with parse_error"),
    "401": _json(_ERROR, "Missing or wrong token; nothing stored"),
    "404": _json(_ERROR, "Unknown integration; nothing stored"),
    "408": _json(_ERROR, "The body did not arrive in time; nothing stored"),
    "413": _json(_ERROR, "Body larger than OSVI_MAX_BODY_BYTES; nothing stored"),
    "431": _json(_ERROR, "Headers larger than OSVI_MAX_HEADER_BYTES; nothing stored"),
    "429": {**_json(_ERROR, "Over the integration's rate limit; nothing stored"),
            "headers": {"Retry-After": {"schema": {"type": "integer"}}}},
    "503": {**_json(_ERROR, "Cannot be stored right now; nothing stored"),
            "headers": {"Retry-After": {"schema": {"type": "integer"}}}},
}
_INTEGRATION = {"name": "integration", "in": "path", "required": True,
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"}}
_PATH = {"name": "path", "in": "path", "required": True, "schema": {"type": "string"},
         "description": "The rest of the OSVI URL, e.g. leads/{{crm_id}}/calls"}
_BODY = {"required": False, "description": "The OSVI delivery: a JSON object",
         "content": {"application/json": {"schema": {"type": "object"}}}}


def _operations(parameters: list[dict[str, Any]], suffix: str) -> dict[str, Any]:
    operations = {}
    for method in ("post", "put", "patch", "get", "delete"):
        operation: dict[str, Any] = {
            "tags": ["deliveries"],
            "summary": f"Receive one OSVI delivery ({method.upper()})",
            "operationId": f"{method}_delivery{suffix}",
            "parameters": parameters,
            "responses": _RESPONSES,
            "security": [{"bearer": []}],
        }
        if method not in ("get", "delete"):
            operation["requestBody"] = _BODY
        operations[method] = operation
    return operations


DELIVERY_PATHS: dict[str, Any] = {
    "/webhooks/{integration}": _operations([_INTEGRATION], ""),
    "/webhooks/{integration}/{path}": _operations([_INTEGRATION, _PATH], "_with_path"),
}
