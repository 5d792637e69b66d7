"""Evidence files (实名材料, 授权证明, …) kept by content hash under the data directory."""
from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from ivr400.db.enums import EvidenceKind, Issuer
from ivr400.db.models import Destination, Evidence
from ivr400.provisioning.errors import ProvisioningError

MAX_EVIDENCE_BYTES = 20 * 1024 * 1024

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
)


def sniff_media_type(head: bytes, name: str) -> str:
    """Media type from the file's first bytes (what it is), falling back to its name (what it claims)."""
    for magic, media in _MAGIC:
        if head.startswith(magic):
            return media
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def store_file(source: Path, store_root: Path, stored: list[Path] | None = None) -> tuple[str, int, Path]:
    """Copy `source` into `store_root/ab/<sha256>` atomically; identical content is stored once.

    Returns (sha256 hex, size in bytes, stored path). When the content was not in the store yet, the stored
    path is also appended to `stored`, so a caller whose transaction is not committed can remove it again.
    """
    digest = hashlib.sha256()
    size = 0
    store_root.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".incoming.", dir=store_root)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            while chunk := src.read(1 << 16):
                size += len(chunk)
                if size > MAX_EVIDENCE_BYTES:
                    raise ProvisioningError("file", f"larger than {MAX_EVIDENCE_BYTES // (1024 * 1024)} MiB")
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise ProvisioningError("file", "empty file")
        sha = digest.hexdigest()
        target = store_root / sha[:2] / sha
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp_name, 0o640)
        new = not target.exists()
        os.replace(tmp_name, target)
        if new and stored is not None:
            stored.append(target)
        return sha, size, target
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def check_attributes(kind: str, attributes: dict[str, Any]) -> None:
    issuer = attributes.get("issuer")
    if issuer is not None and issuer not in {i.value for i in Issuer}:
        raise ProvisioningError("issuer", f"{issuer!r} is not one of {', '.join(i.value for i in Issuer)}")
    if kind not in {k.value for k in EvidenceKind}:
        raise ProvisioningError("kind", f"{kind!r} is not one of {', '.join(k.value for k in EvidenceKind)}")


def add_evidence(session: Session, dest: Destination, kind: str, file: Path, *, store_root: Path,
                 attributes: dict[str, Any], valid_from: date | None, valid_until: date | None, long_term: bool,
                 now: datetime, stored: list[Path] | None = None) -> Evidence:
    """Store `file` and record it as evidence of `kind` for `dest`; raises ProvisioningError naming the field.

    `stored` collects the file's path in the store when this call added it (see `store_file`).
    """
    check_attributes(kind, attributes)
    if not file.is_file():
        raise ProvisioningError("file", f"{file} is not a readable file")
    if long_term and valid_until is not None:
        raise ProvisioningError("valid-until", "give either --valid-until or --long-term, not both")
    if valid_from and valid_until and valid_from > valid_until:
        raise ProvisioningError("valid-until", f"{valid_until} is before --valid-from {valid_from}")
    with file.open("rb") as fh:
        head = fh.read(16)
    sha, size, target = store_file(file, store_root, stored)
    row = Evidence(destination_id=dest.id, kind=kind, original_name=file.name,
                   media_type=sniff_media_type(head, file.name), size=size, sha256=sha,
                   stored_path=str(target.relative_to(store_root.parent)), attributes=attributes,
                   valid_from=valid_from, valid_until=valid_until, long_term=long_term, created_at=now)
    session.add(row)
    session.flush()
    return row
