"""One pure-ASGI middleware for what every request needs: request id, body-size limit, last-resort 500.

Pure ASGI (not ``BaseHTTPMiddleware``) because the latter adds a task and a memory stream per request, which
at 1k req/s costs more than the scoring itself. The size limit is checked twice: the declared Content-Length
is refused before anything is read, and the streamed body is counted so that a chunked or lying client is cut
off at the limit, before the JSON parser sees the bytes.

It also dispatches the few hot routes that are registered as ``fast_routes`` (the single-lead score) straight
to their ASGI handlers, inside the request id, size limit and last-resort 500 handling above. The app puts one
instance in front of FastAPI for those routes (see ``leadscore.serving.app.ScoringAPI``) and one inside
FastAPI's middleware stack for everything else; a request the front one has taken carries
``CONTEXT_SCOPE_KEY``, and the inner one lets it pass untouched (one request id, one body count).
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadscore.serving.errors import ApiError, error_response

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
# A hot route served without the framework: (scope, receive, send, request id) -> False to decline it.
FastRoute = Callable[[Scope, Receive, Send, str], Awaitable[bool]]
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
CONTEXT_SCOPE_KEY = "leadscore.request_context"


class RequestIds:
    """Unique request ids (32 hex digits) without a system call per request.

    A random per-process prefix and a counter: ``uuid4`` reads the kernel's random source on every call
    (~10 us a call here, measured in the request profile). Ids are unique, not secret: nothing is
    authorised by them. A forked child draws a new prefix.
    """

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count()

    def next(self) -> str:
        """A new id."""
        return f"{self._prefix}{next(self._counter):016x}"


_request_ids = RequestIds()


class BodyTooLarge(ApiError):
    """Raised from ``receive`` once the streamed body passes the limit (FastAPI re-raises it as is)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, "payload_too_large", f"request body exceeds {limit} bytes")


class RequestContextMiddleware:
    """Request id (X-Request-ID when sane, else generated), body limit, no stack traces to clients."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        fast_routes: Mapping[tuple[str, str], FastRoute] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.fast_routes = dict(fast_routes or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http" or CONTEXT_SCOPE_KEY in scope:
            await self.app(scope, receive, send)
            return
        scope[CONTEXT_SCOPE_KEY] = True
        headers = Headers(scope=scope)
        supplied = headers.get(REQUEST_ID_HEADER)
        request_id = supplied if supplied and _CLIENT_REQUEST_ID.match(supplied) else _request_ids.next()
        scope.setdefault("state", {})["request_id"] = request_id
        raw_id = request_id.encode("ascii")
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", raw_id)]
            await send(message)

        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            response = error_response(
                413, "payload_too_large", f"request body exceeds {self.max_body_bytes} bytes"
            )
            await response(scope, receive, send_with_id)
            return

        limit = self.max_body_bytes
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        fast = self.fast_routes.get((scope["method"], scope["path"]))
        try:
            if fast is None or not await fast(scope, receive_limited, send_with_id, request_id):
                await self.app(scope, receive_limited, send_with_id)
        except BodyTooLarge as exc:  # read outside a FastAPI route (no handler in between)
            if not started:
                await error_response(413, exc.code, str(exc.detail))(scope, receive, send_with_id)
        except Exception:
            # The only place an unexpected error is logged with its traceback: server side, with the request
            # id.
            logger.exception(
                "unhandled error in %s %s (request %s)", scope.get("method"), scope.get("path"), request_id
            )
            if not started:
                response = error_response(500, "internal_error", f"internal error (request id {request_id})")
                await response(scope, receive, send_with_id)
