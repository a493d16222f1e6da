"""Who is calling: the bearer token, the sandbox it may use, and whether it may write.

Every endpoint takes a :data:`Reader` or a :data:`Writer`. The token is checked
before anything else is read, against the tokens of the sandbox named by
``x-sandbox-name`` (``prod`` when absent). A token that is valid in another
sandbox gets 403 (not entitled here), any other token 401, no token 403: AEP's
gateway answers. A read-only token gets 403 on every Writer endpoint. POST,
PUT and PATCH must say ``Content-Type: application/json``. The token itself is
never logged or stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from segmentation.api.errors import (
    FORBIDDEN_CODE,
    ApiError,
    bad_content_type,
    invalid_token,
    missing_token,
    not_entitled,
    request_id,
)
from segmentation.sandboxes import PROD, Sandboxes
from segmentation.service import SegmentationService
from segmentation.tokens import Token

DEFAULT_ORG = "SEGSTUDIO@AdobeOrg"
_JSON_TYPES = ("application/json", "application/json-patch+json")


@dataclass(frozen=True)
class Caller:
    sandbox: str
    token: Token
    service: SegmentationService
    org_id: str
    request_id: str


async def _authenticate(request: Request) -> Caller:
    """Async on purpose: tokens are checked from memory (and sandboxes are open), so the
    check runs on the event loop instead of costing every request a thread hop."""
    sandboxes: Sandboxes = request.app.state.sandboxes
    header = request.headers.get("authorization", "")
    if not header.strip():
        raise missing_token()
    scheme, _, secret = header.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise invalid_token()
    sandbox = _utf8(request.headers.get("x-sandbox-name") or PROD).strip().lower()
    token = None
    if sandboxes.exists(sandbox):
        token = sandboxes.service(sandbox).tokens.verify(secret)
    if token is None:
        others = [n for n in sandboxes.names() if n != sandbox]
        if any(sandboxes.service(n).tokens.verify(secret) for n in others):
            if not sandboxes.exists(sandbox):
                raise not_entitled(f"there is no sandbox named {sandbox!r}.")
            raise not_entitled(f"this token is not valid for the sandbox {sandbox!r}.")
        raise invalid_token()
    if request.method in ("POST", "PUT", "PATCH"):
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in _JSON_TYPES:
            raise bad_content_type()
    return Caller(
        sandbox=sandbox,
        token=token,
        service=sandboxes.service(sandbox),
        org_id=request.headers.get("x-gw-ims-org-id") or DEFAULT_ORG,
        request_id=request_id(request),
    )


def _utf8(header: str) -> str:
    """A header as its client wrote it: HTTP hands over bytes, which Starlette reads as
    latin-1 (a sandbox named 'ünï' was echoed back as 'Ã¼nÃ¯')."""
    return header.encode("latin-1").decode("utf-8", errors="replace")


async def _writer(caller: Annotated[Caller, Depends(_authenticate)]) -> Caller:
    if caller.token.read_only:
        raise ApiError(
            403,
            FORBIDDEN_CODE,
            f"The token {caller.token.name!r} is read-only: it can read but not create, "
            "change, delete or run anything.",
        )
    return caller


Reader = Annotated[Caller, Depends(_authenticate)]
Writer = Annotated[Caller, Depends(_writer)]
