"""Who sent a webhook, and what it says under the encryption: WeChat's signatures and AES envelope.

Every callback carries `signature` = SHA-1 over the token, timestamp and nonce; in compatible and safe
mode the body is also encrypted, and `msg_signature` covers the ciphertext as well. wechatpy checks
both; this module turns what can go wrong into an HTTP status: unauthenticated → 403, garbled → 400.
"""

from __future__ import annotations

import binascii
import struct
import time
from collections.abc import Mapping

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from channels.wechat import safexml


class Rejected(Exception):
    """A request refused with `status`; `reason` is for the log (never quotes the body)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def authenticate(token: str, query: Mapping[str, str], tolerance: float | None) -> None:
    """The callback's `signature`; with a tolerance, also a timestamp close to now.

    The plain-mode signature covers only the query string, never the body: a signed URL that leaked
    (a proxy log) would otherwise let anyone post any message under any citizen's openid forever.
    """
    signature, timestamp, nonce = (query.get(name) for name in ("signature", "timestamp", "nonce"))
    if not signature or not timestamp or not nonce:
        raise Rejected(403, "signature, timestamp or nonce missing")
    try:
        check_signature(token, signature, timestamp, nonce)
    except InvalidSignatureException:
        raise Rejected(403, "bad signature") from None
    if tolerance is not None:
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
            raise Rejected(403, "bad timestamp")
        if abs(time.time() - int(timestamp)) > tolerance:
            raise Rejected(403, "timestamp too far from now (replayed or clock skew)")


def open_envelope(crypto: WeChatCrypto, body: str, query: Mapping[str, str]) -> str:
    """The decrypted message XML of an `encrypt_type=aes` callback."""
    msg_signature = query.get("msg_signature")
    if not msg_signature:
        raise Rejected(403, "msg_signature missing")
    encrypted = _encrypt_field(body)
    try:
        return str(
            crypto.decrypt_message(
                {"Encrypt": encrypted}, msg_signature, query.get("timestamp", ""), query.get("nonce", "")
            )
        )
    except InvalidSignatureException:
        raise Rejected(403, "bad msg_signature") from None
    except InvalidAppIdException:
        raise Rejected(403, "encrypted for another app id") from None
    except (ValueError, TypeError, IndexError, struct.error, binascii.Error):
        # bad base64, a ciphertext cut short or not a whole number of AES blocks, a wrong length field,
        # bytes that are not UTF-8: signed by someone with the token, but not a message we can read
        raise Rejected(400, "ciphertext cannot be decrypted") from None


def seal(crypto: WeChatCrypto, reply_xml: str, query: Mapping[str, str]) -> str:
    """The passive reply encrypted and signed for WeChat, with the callback's nonce and timestamp."""
    return str(crypto.encrypt_message(reply_xml, query.get("nonce", ""), query.get("timestamp") or None))


def _encrypt_field(body: str) -> str:
    try:
        safexml.check(body)
    except (safexml.UnsafeXml, safexml.MalformedXml) as exc:
        raise Rejected(400, str(exc)) from None
    root = xmltodict.parse(body).get("xml")
    encrypted = root.get("Encrypt") if isinstance(root, dict) else None
    if not isinstance(encrypted, str) or not encrypted.strip():
        raise Rejected(400, "no Encrypt element")
    return encrypted.strip()
