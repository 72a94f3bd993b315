"""ed25519 signatures of lineage records (optional: ``[audit] signing_key``).

A record is signed over its sha256 (hex, as ASCII bytes; see
:func:`jobforge.audit.chain.record_sha256`), so the signature covers every
field but itself. Keys are PEM files (PKCS#8 private key, SubjectPublicKeyInfo
public key), as ``openssl genpkey -algorithm ed25519`` writes them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from jobforge.errors import ConfigError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )


def _serialization() -> ModuleType:
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError as exc:  # pragma: no cover - cryptography is a dependency
        raise ConfigError(
            "signing needs the cryptography package: pip install cryptography"
        ) from exc
    return serialization


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The ed25519 private key in the PEM file at ``path``."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = _load(path, "private", _serialization().load_pem_private_key, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: audit.signing_key: expected an ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The ed25519 public key in the PEM file at ``path``."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = _load(path, "public", _serialization().load_pem_public_key)
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path}: public key: expected an ed25519 public key")
    return key


def _load(path: Path, kind: str, loader, **options):  # type: ignore[no-untyped-def]
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {kind} key: {exc.strerror}") from exc
    try:
        return loader(data, **options)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: not a PEM {kind} key ({exc})") from exc


def key_id(public: Ed25519PublicKey) -> str:
    """sha256 of the raw 32-byte public key: names the key in each record."""
    serialization = _serialization()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def sign(private: Ed25519PrivateKey, record_sha256: str) -> str:
    """The hex signature of a record's sha256."""
    return private.sign(record_sha256.encode("ascii")).hex()


def signature_holds(public: Ed25519PublicKey, record_sha256: str, signature: str) -> bool:
    """Whether ``signature`` (hex) is ``public``'s signature of ``record_sha256``."""
    from cryptography.exceptions import InvalidSignature

    try:
        public.verify(bytes.fromhex(signature), record_sha256.encode("ascii"))
    except (InvalidSignature, ValueError):
        return False
    return True
