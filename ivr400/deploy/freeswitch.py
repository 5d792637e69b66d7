"""Install the FreeSWITCH dialplan files, and serve the same dialplan to mod_xml_curl.

Files: :func:`deploy_freeswitch` writes what changed of :attr:`RenderedFreeswitch.files` below FreeSWITCH's
``conf`` directory (``dialplan/ivr400.xml``, ``dialplan/public/ivr400.xml``), each atomically
(:func:`ivr400.fsutil.atomic_write`), then asks FreeSWITCH to re-read its XML through the ``reloadxml``
callable it is given (the ESL client's ``api reloadxml``; None = the operator reloads). A reload that does not
answer ``+OK`` puts the previous files back and raises :class:`FreeswitchDeployError`.

mod_xml_curl: :func:`xml_curl_app` is an ASGI app answering FreeSWITCH's POSTed lookups (form fields
``section``, ``Hunt-Context``, ``Hunt-Destination-Number`` / ``Caller-Destination-Number``...) with the
``freeswitch/xml`` document of :func:`ivr400.render.freeswitch.xml_curl_document`, read from the database (no
file, no reload): the render model is reloaded when ``config_generation`` changed, and at least every
``max_age_s`` seconds (a destination's validity window opens or closes without any row changing).
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from starlette.applications import Starlette

from ivr400.db.models import ConfigGeneration
from ivr400.fsutil import atomic_write
from ivr400.render.asterisk import RenderError
from ivr400.render.freeswitch import NOT_FOUND, RenderedFreeswitch, xml_curl_document
from ivr400.render.load import load_model
from ivr400.render.model import RenderModel

__all__ = ["FreeswitchDeployError", "FreeswitchDeployReport", "XmlCurlSource", "deploy_freeswitch", "xml_curl_app"]

#: Longest request body the xml_curl endpoint reads (FreeSWITCH posts a few kilobytes of channel data).
MAX_BODY = 256 * 1024


class FreeswitchDeployError(Exception):
    """The reload failed (files restored) or a file could not be written; ``report`` says what was done."""

    def __init__(self, message: str, report: FreeswitchDeployReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class FreeswitchDeployReport:
    """What a deploy did: files written / unchanged (relative to the conf directory), the reload's answer."""

    conf_dir: str | None
    dry_run: bool
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    reloaded: bool = False
    reload_output: str | None = None
    rolled_back: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"pbx": "freeswitch", "conf_dir": self.conf_dir, "dry_run": self.dry_run, "written": self.written,
                "unchanged": self.unchanged, "reloaded": self.reloaded, "reload_output": self.reload_output,
                "rolled_back": self.rolled_back, "warnings": self.warnings}


def _sha(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def deploy_freeswitch(rendered: RenderedFreeswitch, conf_dir: Path | None, *, dry_run: bool = False,
                      reloadxml: Callable[[], str] | None = None) -> FreeswitchDeployReport:
    """Write the changed files below ``conf_dir`` and reload. ``dry_run`` (or ``conf_dir`` None) writes nothing
    and lists every file as to be written. ``reloadxml`` returns FreeSWITCH's answer to ``api reloadxml``
    (``+OK [Success]``); it is called only when a file changed. Raises FreeswitchDeployError."""
    report = FreeswitchDeployReport(str(conf_dir) if conf_dir else None, dry_run or conf_dir is None,
                                    warnings=list(rendered.warnings))
    if conf_dir is None or dry_run:
        for name, sha in rendered.fingerprints.items():
            (report.unchanged if conf_dir is not None and _sha(conf_dir / name) == sha else report.written).append(name)
        return report
    previous: dict[str, bytes | None] = {}
    for name, text in rendered.files.items():
        path = conf_dir / name
        if _sha(path) == rendered.fingerprints[name]:
            report.unchanged.append(name)
            continue
        previous[name] = path.read_bytes() if path.is_file() else None
        try:
            atomic_write(path, text)
        except OSError as exc:
            _restore(conf_dir, previous)
            report.rolled_back = True
            raise FreeswitchDeployError(f"{path}: {exc.strerror or exc}", report) from exc
        report.written.append(name)
    if report.written and reloadxml is not None:
        try:
            answer = reloadxml()
        except Exception as exc:  # noqa: BLE001 - the ESL client's errors: whatever failed, the old files go back
            answer = f"-ERR {exc}"
        report.reload_output = answer.strip()
        if not report.reload_output.startswith("+OK"):
            _restore(conf_dir, previous)
            report.rolled_back = True
            try:
                reloadxml()
            except Exception:  # noqa: BLE001 - best effort: the files are back, the next reload reads them
                report.warnings.append("reloadxml after the rollback failed too")
            raise FreeswitchDeployError(f"reloadxml: {report.reload_output[:200]}; previous files restored", report)
        report.reloaded = True
    return report


def _restore(conf_dir: Path, previous: dict[str, bytes | None]) -> None:
    for name, data in previous.items():
        path = conf_dir / name
        if data is None:
            path.unlink(missing_ok=True)
        else:
            atomic_write(path, data)


# --------------------------------------------------------------------------- mod_xml_curl


class XmlCurlSource:
    """The render model the xml_curl endpoint answers from: reloaded from ``engine`` when the configuration
    generation changed or the model is older than ``max_age_s`` seconds. ``now`` gives the instant (aware)."""

    def __init__(self, engine: Engine, *, now: Callable[[], datetime] | None = None, max_age_s: float = 5.0,
                 template_dirs: Iterable[str | os.PathLike[str]] = (), socket: str | None = None) -> None:
        self.engine = engine
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.max_age_s = max_age_s
        self.template_dirs = list(template_dirs)
        self.socket = socket
        self._lock = threading.Lock()
        self._model: RenderModel | None = None
        self._generation: int | None = None
        self._loaded = 0.0
        self._documents: dict[tuple[str, str], str] = {}
        self.loads = 0

    def model(self) -> RenderModel:
        with self._lock, Session(self.engine) as session:
            generation = session.scalar(select(ConfigGeneration.value).where(ConfigGeneration.id == 1))
            fresh = time.monotonic() - self._loaded < self.max_age_s
            if self._model is None or generation != self._generation or not fresh:
                self._model = load_model(session, self.now())
                self._documents = {}
                self._generation = generation
                self._loaded = time.monotonic()
                self.loads += 1
            return self._model

    def render_check(self) -> None:
        """Load the model and render the ``ivr400`` context once, so a broken database, template directory or
        socket fails at start-up instead of turning every lookup into "not found". Raises RenderError."""
        kwargs: dict[str, Any] = {"template_dirs": self.template_dirs}
        if self.socket:
            kwargs["socket"] = self.socket
        xml_curl_document(self.model(), hunt_context="ivr400", destination="", **kwargs)

    def document(self, fields: dict[str, str]) -> str:
        """The answer to one lookup (its form fields)."""
        if fields.get("section") != "dialplan":
            return NOT_FOUND
        context = fields.get("Hunt-Context") or fields.get("Caller-Context") or ""
        destination = fields.get("Hunt-Destination-Number") or fields.get("Caller-Destination-Number") or ""
        kwargs: dict[str, Any] = {"template_dirs": self.template_dirs}
        if self.socket:
            kwargs["socket"] = self.socket
        model = self.model()
        # Every transfer of a call is a lookup in context ivr400: render that document once per model.
        key = (context, destination if context != "ivr400" else "")
        document = self._documents.get(key)
        if document is None or self._model is not model:
            document = xml_curl_document(model, hunt_context=context, destination=destination, **kwargs)
            with self._lock:
                if self._model is model and len(self._documents) < 10_000:
                    self._documents[key] = document
        return document


def xml_curl_app(source: XmlCurlSource) -> Starlette:
    """A Starlette app: ``POST /dialplan`` (form-encoded, as mod_xml_curl sends it) → ``text/xml`` document;
    ``GET /healthz`` → ``ok``. A lookup we cannot answer (a render error) gets the not-found document with
    status 200, so FreeSWITCH falls back to its files instead of failing the call."""
    import logging
    from urllib.parse import parse_qsl

    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    log = logging.getLogger(__name__)

    async def dialplan(request: Request) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return PlainTextResponse(f"body: more than {MAX_BODY} bytes", status_code=413)
        fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        try:
            document = await _in_thread(source.document, fields)
        except RenderError as exc:
            log.error("xml_curl: %s", exc)
            document = NOT_FOUND
        return Response(document, media_type="text/xml")

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/dialplan", dialplan, methods=["POST"]), Route("/healthz", healthz)])


async def _in_thread(fn: Callable[[dict[str, str]], str], fields: dict[str, str]) -> str:
    import asyncio

    return await asyncio.to_thread(fn, fields)
