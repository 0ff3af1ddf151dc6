"""Callbacks as WeChat sends them, signed and encrypted with wechatpy's own code, and replies read back."""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from tests.fakes.wechat_api import APP_ID

TOKEN = "sunshine2026"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")  # 43 characters, like the console's
OPENID = "oVwXy0AbCdEfGhIjKlMnOpQrStUv"  # 28 characters, like a real openid
ACCOUNT = "gh_3c884a361561"
NONCE = "1320562132"

# Tencent's published sample for the message encryption (its WXBizMsgCrypt sample code for official
# accounts, "公众平台上开发者设置的token, appID, EncodingAESKey"): a callback and what it must decrypt to.
SAMPLE_TOKEN = "QDG6eK"
SAMPLE_APP_ID = "wx5823bf96d3bd56c7"
SAMPLE_AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
SAMPLE_MSG_SIGNATURE = "477715d11cdb4164915debcba66cb864d751f3e6"
SAMPLE_TIMESTAMP = "1409659813"
SAMPLE_NONCE = "1372623149"
SAMPLE_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sY"
    "YvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJ"
    "YuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVG"
    "Ucallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3K"
    "DYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
SAMPLE_BODY = (
    f"<xml><ToUserName><![CDATA[{SAMPLE_APP_ID}]]></ToUserName>"
    f"<Encrypt><![CDATA[{SAMPLE_ENCRYPT}]]></Encrypt></xml>"
)


@dataclass(frozen=True)
class Callback:
    query: dict[str, str]
    body: str | bytes
    fields: dict[str, Any] = field(default_factory=dict)  # the plaintext message, for expectations


def now() -> str:
    return str(int(time.time()))


def sign(token: str, *values: str) -> str:
    """The SHA-1 signature wechatpy's check_signature and WeChatCrypto verify."""
    signer = WeChatSigner()
    signer.add_data(token, *values)
    return str(signer.signature)


def message_xml(fields: dict[str, Any]) -> str:
    """A message body in WeChat's style: text in CDATA sections, numbers bare."""
    parts = []
    for name, value in fields.items():
        # As WeChat does, a "]]>" in the text is split over two CDATA sections.
        quoted = value.replace("]]>", "]]]]><![CDATA[>") if isinstance(value, str) else ""
        shown = f"<![CDATA[{quoted}]]>" if isinstance(value, str) else str(value)
        parts.append(f"<{name}>{shown}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


def fields_of(kind: str, **extra: Any) -> dict[str, Any]:
    created = extra.pop("CreateTime", int(time.time()))
    return {
        "ToUserName": ACCOUNT,
        "FromUserName": extra.pop("FromUserName", OPENID),
        "CreateTime": created,
        "MsgType": kind,
        **extra,
    }


def fresh_nonce() -> str:
    """WeChat sends a new random nonce with every callback; the webhook refuses a signed query it has
    already seen with another body, so two callbacks in one second must not share one."""
    return str(secrets.randbelow(10**10))


def plain(
    fields: dict[str, Any], *, token: str = TOKEN, timestamp: str | None = None, nonce: str | None = None
) -> Callback:
    timestamp = timestamp or now()
    nonce = nonce or fresh_nonce()
    query = {
        "signature": sign(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": str(fields.get("FromUserName", OPENID)),
    }
    return Callback(query, message_xml(fields), fields)


def encrypted(
    fields: dict[str, Any] | str,
    *,
    compatible: bool = False,
    token: str = TOKEN,
    key: str = AES_KEY,
    app_id: str = APP_ID,
    timestamp: str | None = None,
    nonce: str | None = None,
) -> Callback:
    """Encrypted by wechatpy's WeChatCrypto; in compatible mode the plaintext fields ride along."""
    timestamp = timestamp or now()
    nonce = nonce or fresh_nonce()
    xml = fields if isinstance(fields, str) else message_xml(fields)
    sealed = xmltodict.parse(WeChatCrypto(token, key, app_id).encrypt_message(xml, nonce, timestamp))["xml"]
    outer: dict[str, Any] = {"ToUserName": ACCOUNT}
    if compatible and isinstance(fields, dict):
        outer.update(fields)
    outer["Encrypt"] = sealed["Encrypt"]
    query = {
        "signature": sign(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": sealed["MsgSignature"],
    }
    return Callback(query, message_xml(outer), fields if isinstance(fields, dict) else {})


def resigned(callback: Callback, encrypt: str, token: str = TOKEN) -> Callback:
    """The callback with another ciphertext, signed properly: what only a holder of the token could send."""
    query = dict(callback.query)
    query["msg_signature"] = sign(token, query["timestamp"], query["nonce"], encrypt)
    body = message_xml({"ToUserName": ACCOUNT, "Encrypt": encrypt})
    return Callback(query, body, callback.fields)


def read_reply(body: str, *, token: str = TOKEN, key: str = AES_KEY, app_id: str = APP_ID) -> dict[str, Any]:
    """A passive reply's fields; an encrypted one is checked (msg_signature) and decrypted first."""
    outer = xmltodict.parse(body)["xml"]
    if "Encrypt" in outer:
        crypto = WeChatCrypto(token, key, app_id)
        inner = crypto.decrypt_message(body, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
        return dict(xmltodict.parse(inner)["xml"])
    return dict(outer)
