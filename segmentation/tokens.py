"""API tokens of one workspace (sandbox): shown once, stored only as a hash.

A token is ``sst_`` plus 32 random bytes (base64url). Only its SHA-256 is
stored: a slow password hash buys nothing for 256 random bits, and a fast one
keeps every request's check cheap. A presented token is hashed and compared
with every stored hash by :func:`hmac.compare_digest`, without stopping at a
match, so the time taken says nothing about how close a guess was.

The table lives in the workspace's own DuckDB file, so each sandbox has its own
tokens; this process is the file's only writer, so the in-memory copy kept
here is refreshed on its own writes and is never stale.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading

from pydantic import BaseModel

from segmentation.errors import InvalidInputError, NameTakenError, NotFoundError
from segmentation.store import Database

PREFIX = "sst_"
# set by `segmentation serve` on a non-loopback address: the dashboard asks for a token too
DASHBOARD_AUTH_ENV = "SEGMENTATION_DASHBOARD_AUTH"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Token(BaseModel):
    name: str
    read_only: bool
    created_at: dt.datetime


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class TokenStore:
    """create / list / revoke / verify over the ``api_tokens`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._cache: list[tuple[str, Token]] | None = None

    def create(self, name: str, *, read_only: bool = False) -> tuple[Token, str]:
        """A new token; returns it and its secret, which is never stored or shown again."""
        if not _NAME.match(name or ""):
            raise InvalidInputError(
                f"Token name {name!r} is not valid: use 1 to 64 letters, digits, '_', '.' "
                "or '-', starting with a letter or digit."
            )
        secret = PREFIX + secrets.token_urlsafe(32)
        token = Token(name=name, read_only=read_only, created_at=_now())
        with self._db.write() as con:
            if con.execute("SELECT 1 FROM api_tokens WHERE name = ?", [name]).fetchone():
                raise NameTakenError(
                    f"A token named {name!r} already exists; revoke it first or pick another name."
                )
            con.execute(
                "INSERT INTO api_tokens (name, token_hash, read_only, created_at) "
                "VALUES (?, ?, ?, ?)",
                [name, token_hash(secret), read_only, token.created_at],
            )
        self._invalidate()
        return token, secret

    def list(self) -> list[Token]:
        return [token for _, token in self._tokens()]

    def revoke(self, name: str) -> None:
        with self._db.write() as con:
            gone = con.execute(
                "DELETE FROM api_tokens WHERE name = ? RETURNING name", [name]
            ).fetchall()
        self._invalidate()
        if not gone:
            known = ", ".join(t.name for t in self.list()) or "none"
            raise NotFoundError(f"No token named {name!r}; tokens here: {known}.")

    def verify(self, secret: str) -> Token | None:
        """The token whose secret this is, or None; compares with every stored hash."""
        candidate = token_hash(secret)
        found = None
        for stored, token in self._tokens():
            if hmac.compare_digest(stored, candidate):
                found = token
        return found

    def _tokens(self) -> list[tuple[str, Token]]:
        with self._lock:
            if self._cache is None:
                rows = self._db.rows(
                    "SELECT token_hash, name, read_only, created_at FROM api_tokens ORDER BY name"
                )
                self._cache = [(h, Token(name=n, read_only=r, created_at=c)) for h, n, r, c in rows]
            return self._cache

    def _invalidate(self) -> None:
        with self._lock:
            self._cache = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
