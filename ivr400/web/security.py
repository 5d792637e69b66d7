"""Request-level protections: CSRF on every state-changing request, login throttling, bounded uploads.

CSRF (two independent checks, both must pass on POST/PUT/PATCH/DELETE):

1. the browser's own word: ``Sec-Fetch-Site`` must be ``same-origin`` (or ``none``, typed by the user) and
   ``Origin``, when sent, must be this server's origin (``Host``);
2. a token: ``csrf_token`` form field or ``X-CSRF-Token`` header equal to the session's token (before login:
   to the login cookie's double-submit token).

Login throttling: at most ``login_attempts_per_ip`` attempts per client address per ``login_window`` (429),
in memory (per process); the per-account lockout lives in the database (``ivr400.provisioning.users``).
"""
from __future__ import annotations

import hmac
import os
import tempfile
import threading
from collections import deque
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import Depends, Request, UploadFile

from ivr400.provisioning.errors import ProvisioningError
from ivr400.web.context import LOGIN_CSRF_COOKIE, Principal, optional_principal

#: The public click-to-call endpoint (ivr400.web.clicktocall): no session, so no CSRF token by design.
PUBLIC_PREFIX = "/c2c/"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class CsrfRejected(Exception):
    """A state-changing request that did not prove it came from our own page: 403."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_origin(request: Request) -> None:
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise CsrfRejected(f"Sec-Fetch-Site is {site}")
    origin = request.headers.get("origin")
    if origin is not None:
        host = request.headers.get("host", "")
        if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
            raise CsrfRejected("Origin is not this site")


async def csrf_guard(request: Request, who: Principal | None = Depends(optional_principal)) -> None:
    """Global dependency: nothing for safe methods; otherwise origin checks and the token."""
    if request.method in SAFE_METHODS or request.url.path.startswith(PUBLIC_PREFIX):
        return  # PUBLIC_PREFIX: the click-to-call endpoint, protected by its token, origin list and limits
    check_origin(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # parsed once, cached for the handler's Form() parameters
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    expected = who.csrf_token if who is not None else request.cookies.get(LOGIN_CSRF_COOKIE)

    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRejected("missing or wrong CSRF token")


class LoginThrottle:
    """Sliding window of login attempts per client address (thread-safe, in memory)."""

    def __init__(self, limit: int, window: timedelta) -> None:
        self.limit = limit
        self.window = window
        self._seen: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str, now: datetime) -> bool:
        with self._lock:
            q = self._seen.setdefault(client, deque())
            while q and now - q[0] > self.window:
                q.popleft()
            if len(q) >= self.limit:
                return False
            q.append(now)
            if len(self._seen) > 10_000:  # forget idle clients
                for key in [k for k, v in self._seen.items() if not v]:
                    del self._seen[key]
            return True


async def save_upload(upload: UploadFile, directory: Path, limit: int, field: str = "file") -> tuple[Path, bytes]:
    """Copy an upload to a file named by us (never by the client) in ``directory``, at most ``limit`` bytes.

    Returns (path, first 16 bytes) for type sniffing; raises ProvisioningError(field) when empty or too large.
    """
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="upload.", dir=directory)
    size = 0
    head = b""
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await upload.read(1 << 16):
                if not head:
                    head = chunk[:16]
                size += len(chunk)
                if size > limit:
                    raise ProvisioningError(field, f"larger than {limit // (1024 * 1024)} MiB")
                out.write(chunk)
    except BaseException:
        os.unlink(name)
        raise
    if size == 0:
        os.unlink(name)
        raise ProvisioningError(field, "empty file")
    return Path(name), head
