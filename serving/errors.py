"""Uniform error bodies ``{"error": {"code", "message", "field"}}`` and the handlers that produce them.

Clients branch on ``code``; ``message`` is for humans; ``field`` is the dotted path of the offending input. No
handler ever returns a stack trace or echoes the rejected input (it may hold contact details).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from leadscore.core.errors import LeadscoreError
from leadscore.serving.schemas import ErrorBody

logger = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "not_ready",
}
_MAX_LISTED_PROBLEMS = 5


class ApiError(HTTPException):
    """An error with a stable code and, when it concerns one input, the field's dotted path."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.code = code
        self.field = field


def error_response(
    status_code: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Serialise an error body (pydantic's Rust serializer: no json.dumps, no stack trace)."""
    body = ErrorBody.model_validate({"error": {"code": code, "message": message, "field": field}})
    return Response(
        body.model_dump_json(), status_code=status_code, media_type="application/json", headers=headers
    )


def field_path(loc: Sequence[Any]) -> str | None:
    """``("body", "leads", 0, "employees")`` -> ``"leads.0.employees"`` (the request part is implied)."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or None


def _describe(err: Mapping[str, Any]) -> str:
    path = field_path(err.get("loc", ()))
    message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if err.get("type") == "json_invalid":
        return f"body is not valid JSON ({err.get('ctx', {}).get('error', 'parse error')})"
    if err.get("type") == "missing" and path:
        return f"{path}: field required"
    return f"{path}: {message}" if path else message


async def _validation_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return validation_error_response(list(exc.errors()))


def validation_error_response(errors: Sequence[Mapping[str, Any]]) -> Response:
    """422 for pydantic errors (FastAPI's or a model's own), listing a few and naming the first field."""
    problems = [_describe(e) for e in errors[:_MAX_LISTED_PROBLEMS]]
    if len(errors) > _MAX_LISTED_PROBLEMS:
        problems.append(f"... and {len(errors) - _MAX_LISTED_PROBLEMS} more")
    first = field_path(errors[0].get("loc", ())) if errors else None
    if errors and errors[0].get("type") == "json_invalid":
        first = None
    return error_response(422, "validation_error", "; ".join(problems) or "invalid request", first)


async def _http_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return http_error_response(exc)


def http_error_response(exc: HTTPException) -> Response:
    """The uniform body for an HTTPException (an ApiError keeps its code and field)."""
    code = getattr(exc, "code", None) or _CODES.get(exc.status_code, f"http_{exc.status_code}")
    message = exc.detail if isinstance(exc.detail, str) else _CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, code, message, getattr(exc, "field", None), exc.headers)


async def _domain_handler(request: Request, exc: Exception) -> Response:
    return domain_error_response(exc, getattr(request.state, "request_id", "-"))


def domain_error_response(exc: Exception, request_id: str) -> Response:
    """422 for a domain error: at this edge it means the input cannot be scored as sent (e.g. SchemaError)."""
    logger.info("request %s rejected: %s", request_id, type(exc).__name__)
    return error_response(422, "unprocessable_lead", str(exc))


def install_error_handlers(app: FastAPI) -> None:
    """Register the uniform handlers (unexpected exceptions are caught by the request middleware)."""
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(HTTPException, _http_handler)
    app.add_exception_handler(LeadscoreError, _domain_handler)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting the uniform error body for the given statuses."""
    descriptions = {
        401: "Missing or invalid X-API-Key header.",
        409: "The reload was refused; the previous model keeps serving (the message says why).",
        413: "Request body (or batch) larger than the configured limit.",
        422: "Invalid input: the message and `field` name the offending value.",
        503: "No model loaded and warmed up yet, or (code `log_backlog`, with Retry-After) the prediction "
        "log is too far behind to accept more scores.",
    }
    return {
        status: {"model": ErrorBody, "description": descriptions.get(status, "Error.")} for status in statuses
    }
