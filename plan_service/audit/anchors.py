"""Signed anchors: the heads of every chain, signed with a key the database does not hold.

A hash chain alone cannot show that its newest rows were removed, or that someone rewrote a
chain and recomputed every hash after the change. An anchor records each chain's head (seq,
row hash and row id) at one moment; kept outside the database and signed with an Ed25519 key
that lives only with the anchoring job (`AUDIT_ANCHOR_KEY_FILE`), it cannot be forged by
someone who controls the database. `audit_verify` checks the signature against the public key
(`AUDIT_ANCHOR_PUBLIC_KEY_FILE`) before it trusts an anchor.

Anchors are written by `audit_anchor` at `AUDIT_ANCHOR_INTERVAL_MINUTES` (run it from cron or a
systemd timer every few minutes with `--if-due`) and by `audit_backup` before every dump, into
`AUDIT_ANCHOR_DIR` (a directory on another system or write-once storage), one file each.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.utils import timezone

from plan_service.audit import chain

FORMAT = "plan-service-audit-anchor/2"
PREFIX = "anchor-"


class AnchorError(Exception):
    """An anchor that cannot be trusted: unreadable, unsigned, or signed by another key."""


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key (sha256 of its raw bytes, first 16 hex digits)."""
    return hashlib.sha256(_raw_public(key)).hexdigest()[:16]


def generate_key(path: Path) -> Path:
    """Write a new private key to `path` (mode 0600) and its public key to `path.pub`."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public = path.with_name(path.name + ".pub")
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return public


def load_private_key(path: str | Path | None = None) -> Ed25519PrivateKey:
    source = Path(path or settings.AUDIT_ANCHOR_KEY_FILE or "")
    if not str(source) or not source.is_file():
        raise AnchorError(f"no anchor signing key at {source} (AUDIT_ANCHOR_KEY_FILE)")
    key = serialization.load_pem_private_key(source.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise AnchorError(f"{source} is not an Ed25519 private key")
    return key


def load_public_key(path: str | Path | None = None) -> Ed25519PublicKey:
    configured = path or settings.AUDIT_ANCHOR_PUBLIC_KEY_FILE
    if not configured and settings.AUDIT_ANCHOR_KEY_FILE:
        configured = f"{settings.AUDIT_ANCHOR_KEY_FILE}.pub"
    source = Path(configured or "")
    if not str(source) or not source.is_file():
        raise AnchorError(f"no anchor public key at {source} (AUDIT_ANCHOR_PUBLIC_KEY_FILE)")
    key = serialization.load_pem_public_key(source.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise AnchorError(f"{source} is not an Ed25519 public key")
    return key


def heads_document(reason: str = "scheduled") -> dict[str, Any]:
    """Both logs' heads, chain by chain, with when and why.

    Heads are read one chain at a time, so chains appended to meanwhile are anchored at slightly
    different moments; each head is still a committed row, which is all an anchor needs.
    """
    logs = {str(name): chain.anchor_heads(model) for name, model in chain.LOGS.items()}
    return {
        "format": FORMAT,
        "created_at": timezone.now().isoformat(),
        "reason": reason,
        "algorithm": "sha256",
        "logs": logs,
    }


def sign(document: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The signed anchor: the document, the Ed25519 signature over its canonical JSON."""
    return {
        "anchor": document,
        "signature": {
            "algorithm": "Ed25519",
            "key_id": key_id(key.public_key()),
            "value": base64.b64encode(key.sign(_canonical(document))).decode(),
        },
    }


def verified_logs(signed: Any, key: Ed25519PublicKey) -> dict[str, Any]:
    """The per-log heads of a signed anchor, once its signature checks out with `key`."""
    if not isinstance(signed, dict) or not isinstance(signed.get("anchor"), dict):
        raise AnchorError("not a signed audit anchor")
    signature = signed.get("signature") or {}
    if signature.get("algorithm") != "Ed25519" or not signature.get("value"):
        raise AnchorError("the anchor is not signed")
    try:
        key.verify(base64.b64decode(signature["value"]), _canonical(signed["anchor"]))
    except (InvalidSignature, ValueError) as exc:
        raise AnchorError("the anchor's signature does not verify with this key") from exc
    logs = signed["anchor"].get("logs")
    if not isinstance(logs, dict):
        raise AnchorError("the anchor holds no logs")
    return logs


def read_anchor(path: str | Path, key: Ed25519PublicKey) -> dict[str, Any]:
    try:
        signed = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AnchorError(f"cannot read the anchor {path}: {exc}") from exc
    return verified_logs(signed, key)


def write_anchor(
    directory: str | Path | None = None,
    *,
    reason: str = "scheduled",
    key: Ed25519PrivateKey | None = None,
    output: str | Path | None = None,
) -> Path:
    """Sign the current heads and write them as a new file (never overwriting one)."""
    signed = sign(heads_document(reason), key or load_private_key())
    if output is None:
        folder = Path(directory or settings.AUDIT_ANCHOR_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        output = folder / f"{PREFIX}{stamp}-{reason}.json"
    target = Path(output)
    text = json.dumps(signed, indent=2, sort_keys=True) + "\n"
    with tempfile.NamedTemporaryFile(
        "w", dir=target.parent, delete=False, encoding="utf-8", suffix=".tmp"
    ) as tmp:
        tmp.write(text)
    os.link(tmp.name, target)  # fails if the name exists: an anchor is never replaced
    os.unlink(tmp.name)
    target.chmod(0o444)
    return target


def anchors_in(directory: str | Path | None = None) -> list[Path]:
    folder = Path(directory or settings.AUDIT_ANCHOR_DIR)
    return sorted(folder.glob(f"{PREFIX}*.json")) if folder.is_dir() else []


def latest_anchor(directory: str | Path | None = None) -> Path | None:
    found = anchors_in(directory)
    return found[-1] if found else None


def is_due(directory: str | Path | None = None, *, minutes: int | None = None) -> bool:
    """Whether the newest anchor is older than the interval (or there is none)."""
    latest = latest_anchor(directory)
    if latest is None:
        return True
    interval = dt.timedelta(minutes=minutes or settings.AUDIT_ANCHOR_INTERVAL_MINUTES)
    age = dt.datetime.now(dt.UTC) - dt.datetime.fromtimestamp(latest.stat().st_mtime, dt.UTC)
    return age >= interval
