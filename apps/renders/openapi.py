"""The JSON API's OpenAPI 3.1 document, built from the pydantic models in schemas.py.

Served at `GET /api/openapi.json` (no token needed); the fuzz tests and outside clients read it.
"""

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from apps.renders.schemas import ApiErrorBody, JobAccepted, RenderRequest

REF = "#/components/schemas/{model}"


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {
        400: "Bad input; `field` names it.",
        401: "No valid bearer token (unknown, revoked or expired).",
        403: "This account may not use the API.",
        404: "Unknown engine, or no such render (or not yours).",
        413: "The body is larger than the server accepts.",
        415: "The body is not declared as application/json.",
        429: "Refused by admission (budget or capacity); `error` says why.",
        502: "The render failed; `error` says why.",
    }
    return {str(status): _json(ApiErrorBody, text[status]) for status in statuses}


def openapi_document() -> dict[str, Any]:
    """The document as a dict (OpenAPI 3.1, whose schemas are JSON Schema 2020-12 as pydantic writes)."""
    _, defs = models_json_schema(
        [(m, "validation") for m in (RenderRequest, JobAccepted, ApiErrorBody)], ref_template=REF
    )
    body = {"required": True, "content": {"application/json": {"schema": _ref(RenderRequest)}}}
    png = {"description": "The delivered image.", "content": {"image/png": {"schema": {"type": "string"}}}}
    accepted = _json(JobAccepted, "Accepted; the job's URL is in `Location` and `url`.")
    submit_errors = _errors(400, 401, 403, 413, 415, 429, 502)
    public_id = {"name": "public_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "RenderHub API",
            "version": "1",
            "description": "Bearer-token JSON API of RenderHub (README: JSON API). Limits are in the schemas.",
        },
        "components": {
            "schemas": defs["$defs"],
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/renders": {
                "post": {
                    "operationId": "renders_create",
                    "summary": "Submit a render; always 202.",
                    "requestBody": body,
                    "responses": {"202": accepted, **submit_errors},
                }
            },
            "/api/models/render": {
                "post": {
                    "operationId": "models_render",
                    "summary": "Render by tier routing; the PNG if done within the tier's budget, else 202.",
                    "requestBody": body,
                    "responses": {"200": png, "202": accepted, **submit_errors},
                }
            },
            "/api/models/{engine_slug}": {
                "post": {
                    "operationId": "models_engine",
                    "summary": "Render on one engine; the PNG if done within the tier's budget, else 202.",
                    "parameters": [
                        {
                            "name": "engine_slug",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"},
                        }
                    ],
                    "requestBody": body,
                    "responses": {"200": png, "202": accepted, **submit_errors, **_errors(404)},
                }
            },
            "/api/v1/renders/{public_id}": {
                "get": {
                    "operationId": "renders_detail",
                    "summary": "The job as JSON: status, admission, attempts, image_url.",
                    "parameters": [public_id],
                    "responses": {
                        "200": {"description": "The job.", "content": {"application/json": {"schema": {}}}},
                        **_errors(401, 404),
                    },
                }
            },
            "/api/v1/renders/{public_id}/image": {
                "get": {
                    "operationId": "renders_image",
                    "summary": "The job's best image so far.",
                    "parameters": [public_id],
                    "responses": {"200": png, **_errors(401, 404)},
                }
            },
        },
    }


@require_GET
def openapi_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse(openapi_document(), json_dumps_params={"ensure_ascii": False})
