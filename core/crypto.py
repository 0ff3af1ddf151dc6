"""Every key the backend uses, derived from the one deployment secret.

A single secret in the settings is all an operator has to keep safe and back up. From it HKDF derives
independent keys per purpose, so a hash that finds subsidy rows by ID number can never be matched
against the hash that finds conversations by address, and the encryption key is not the lookup key.

Query passwords are only 8 digits (10^8 possibilities): a salted slow hash alone would let whoever
steals the database try them all offline. They are therefore peppered with a key derived from the
secret before argon2id, so the database without the secret is not enough to test a guess.
Consequence: changing the secret makes every stored password and ciphertext unusable.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import hmac
import json
import os
import secrets
from base64 import urlsafe_b64encode
from pathlib import Path
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MIN_SECRET_BYTES = 16
_HKDF_SALT = b"sunshine/keyring/v1"
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)


class UnreadableToken(ValueError):
    """A ciphertext that was not made with this deployment's secret, or was altered."""


def _password_hasher(cost: Literal["normal", "fast"]) -> PasswordHasher:
    if cost == "normal":
        # OWASP's first argon2id configuration (19 MiB, 2 passes, 1 lane): ~35 ms of one core per hash.
        # RFC 9106's 64 MiB / 3 passes / 4 lanes cost ~230 ms and 64 MiB per hash, which capped a
        # single-core server at a few submissions a second and held its memory far above 200 MB under
        # a burst; the pepper (a keyed hash before argon2id) already makes a stolen database alone
        # useless for guessing. Hashes made with the old parameters still verify: argon2 stores them.
        _return_large_buffers()
        return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
    if cost == "fast":
        # Only for tests: the same algorithm and format, without the deliberate cost.
        return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    raise ValueError(f"unknown password cost {cost!r}")


@functools.cache
def _return_large_buffers() -> None:
    """Make glibc hand each argon2 buffer (19 MiB, allocated in a worker thread) back when it is freed.

    By default glibc raises its mmap threshold after the first such buffer is freed, so later ones come
    from per-thread heaps it keeps: 30 bursts of 4 hashes left a process 117 MB larger, and a serving
    process 70 MB larger after 200 submissions. A fixed threshold (128 KiB, glibc's default start)
    keeps large buffers mapped and unmapped one by one: the same bursts leave it where it began.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, 128 * 1024)


class Keyring:
    """Holds the deployment secret; hands out hashes, ciphertexts and password checks, never the keys."""

    def __init__(self, secret: str | bytes, *, password_cost: Literal["normal", "fast"] = "normal") -> None:
        material = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if len(material) < MIN_SECRET_BYTES:
            raise ValueError(f"the deployment secret must be at least {MIN_SECRET_BYTES} bytes")
        self._secret = material
        self._lookup_keys: dict[str, bytes] = {}
        self._fernet = Fernet(urlsafe_b64encode(self._derive("encrypt")))
        self._pepper = self._derive("password-pepper")
        self._hasher = _password_hasher(password_cost)
        self._dummy_hash: str | None = None

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return "Keyring(<secret>)"

    def _derive(self, purpose: str) -> bytes:
        hkdf = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=b"sunshine/" + purpose.encode()
        )
        return hkdf.derive(self._secret)

    # ---- keyed hashes: find a row by a secret value without storing the value ----

    def lookup_hash(self, purpose: str, value: str) -> str:
        if not purpose:
            raise ValueError("a lookup hash needs a purpose")
        key = self._lookup_keys.get(purpose)
        if key is None:
            key = self._lookup_keys[purpose] = self._derive("lookup/" + purpose)
        return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()

    # ---- encryption at rest ----

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise UnreadableToken("cannot decrypt: wrong key or damaged value") from exc

    def encrypt_json(self, value: Any) -> str:
        return self.encrypt(json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True))

    def decrypt_json(self, token: str) -> Any:
        return json.loads(self.decrypt(token))

    # ---- passwords ----

    def _peppered(self, password: str) -> str:
        return hmac.new(self._pepper, password.encode("utf-8"), hashlib.sha256).hexdigest()

    def hash_password(self, password: str) -> str:
        return self._hasher.hash(self._peppered(password))

    def verify_password(self, hashed: str | None, password: str) -> bool:
        """False for a wrong password, a missing hash or a damaged one, after the same amount of work."""
        peppered = self._peppered(password)
        if hashed:
            try:
                return self._hasher.verify(hashed, peppered)
            except InvalidHashError:
                pass  # fall through to the dummy so a damaged row costs the same time
            except VerificationError:
                return False
        with contextlib.suppress(VerificationError, InvalidHashError):
            self._hasher.verify(self._dummy(), peppered)
        return False

    def password_needs_rehash(self, hashed: str) -> bool:
        """True when a stored hash was made with weaker parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(hashed)
        except InvalidHashError:
            return True

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_hex(16))
        return self._dummy_hash


def load_or_create_secret(path: Path) -> str:
    """Read the demo's secret file, creating it (owner-only) on first run."""
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    else:
        if len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
            raise ValueError(f"the secret in {path} is too short")
        return secret
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    # Written whole to a private temporary file, then linked into place: link fails if the name exists,
    # so two processes starting together agree on one secret and nobody reads a half-written file.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secret + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return load_or_create_secret(path)
    finally:
        temporary.unlink(missing_ok=True)
    return secret
