"""WeChat callbacks, fuzzed: message XML plain and AES-encrypted, validly signed by wechatpy's own code.

Beyond odd field values: truncated and garbled XML, repeated and nested elements, billion laughs and
external entities naming a planted file (its content must never come back or be stored), huge bodies,
and in encrypted mode truncated or garbled base64, ciphertext cut or flipped (properly re-signed, as
only a holder of the token could send it) and a payload sealed for another app id.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from typing import Any

import xmltodict
from hypothesis import strategies as st
from wechatpy.crypto import WeChatCrypto

from tests.channels.wechat.wire import AES_KEY, TOKEN, message_xml, read_reply, sign
from tests.drills.fuzz.service import BOT, FuzzService
from tests.drills.fuzz.values import huge_text, message_text, odd_text
from tests.fakes.wechat_api import APP_ID

PATH = f"/webhooks/wechat/{BOT}"
ACCOUNT = "gh_3c884a361561"
OPENIDS = ("oVwXy0AbCdEfGhIjKlMnOpQrStUv", "oVwXy0AbCdEfGhIjKlMnOpQr0001", "oVwXy0AbCdEfGhIjKlMnOpQr0002")
KINDS = ("text", "text", "text", "image", "voice", "location", "event", "video", "link", "shortvideo", "")
EVENTS = ("subscribe", "unsubscribe", "CLICK", "click", "VIEW", "LOCATION", "SCAN", "subscribe_scan", "")


@dataclass(frozen=True)
class WeChatCase:
    body: str | bytes  # the message XML (sealed in `encrypted` mode) or a hostile document
    signing: str  # "valid", "missing", "wrong", "stale"
    encrypted: bool
    sealing: str = (
        "whole"  # encrypted only: "whole", "other-app", "truncated", "flipped", "garbled", "no-encrypt"
    )
    hostile: bool = False  # a DTD, an entity: must be refused with a 400, never expanded
    well_formed: bool = False  # a text message WeChat could have sent: must be answered with a 200


# ---------------------------------------------------------------- message XML


@st.composite
def _fields(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """A message's fields and whether it is a plain text message every check must accept."""
    kind = draw(st.sampled_from(KINDS))
    sender = draw(st.one_of(st.sampled_from(OPENIDS), st.sampled_from(OPENIDS), odd_text, st.just("")))
    created: Any = draw(
        st.one_of(st.just(int(time.time())), st.integers(-(2**40), 2**40), odd_text, st.just("1e9"))
    )
    fields: dict[str, Any] = {
        "ToUserName": ACCOUNT,
        "FromUserName": sender,
        "CreateTime": created,
        "MsgType": kind,
    }
    msg_id: Any = draw(st.one_of(st.integers(0, 2**64), st.integers(0, 2**64), odd_text, st.none()))
    if kind == "text":
        fields["Content"] = draw(message_text())
    elif kind == "image":
        fields["PicUrl"] = draw(st.one_of(st.just("http://mmbiz.qpic.cn/x.jpg"), odd_text))
        fields["MediaId"] = "media"
    elif kind == "voice":
        fields["Recognition"] = draw(st.one_of(message_text(), st.just("")))
    elif kind == "location":
        number = st.one_of(
            st.floats(allow_nan=True, allow_infinity=True).map(str), odd_text, st.just("30.57")
        )
        fields["Location_X"], fields["Location_Y"] = draw(number), draw(number)
        fields["Label"] = draw(odd_text)
    elif kind == "event":
        fields["Event"] = draw(st.sampled_from(EVENTS))
        fields["EventKey"] = draw(
            st.one_of(st.sampled_from(["submit", "lookup", "subsidy", "rate", "human", ""]), odd_text)
        )
    if msg_id is not None and kind != "event":
        fields["MsgId"] = msg_id
    names = list(fields)
    broken = draw(st.integers(-4 * len(names), len(names) - 1))
    if broken >= 0:
        if draw(st.booleans()):
            del fields[names[broken]]  # a field missing
        else:
            fields[names[broken]] = {"Nested": "element"}  # an element where text belongs
    well_formed = (
        kind == "text"
        and sender in OPENIDS
        and isinstance(created, int)
        and 0 < created < 2**33
        and "Content" in fields
        and isinstance(fields.get("Content"), str)
        and _xml_chars(fields["Content"])
        and len(fields["Content"].encode("utf-8", "surrogatepass")) < 60_000
        and (msg_id is None or isinstance(fields.get("MsgId"), int))
        and all(
            not isinstance(fields.get(name), dict)
            for name in ("ToUserName", "FromUserName", "CreateTime", "MsgType", "MsgId")
        )
        and ("MsgId" in fields or msg_id is None)
        and fields.get("ToUserName") == ACCOUNT
        and fields.get("FromUserName") == sender
        and fields.get("MsgType") == kind
        and fields.get("CreateTime") == created
    )
    return fields, well_formed


def _xml_chars(text: str) -> bool:
    """What XML 1.0 can carry at all (expat refuses the rest, as WeChat would never send it)."""
    return all(
        ch in "\t\n\r" or 0x20 <= ord(ch) <= 0xD7FF or 0xE000 <= ord(ch) <= 0xFFFD or ord(ch) >= 0x10000
        for ch in text
    )


def render(fields: dict[str, Any]) -> str:
    """The fields as WeChat writes them; nested dicts as child elements, numbers bare."""
    parts = []
    for name, value in fields.items():
        if isinstance(value, dict):
            inner = "".join(f"<{k}>{v}</{k}>" for k, v in value.items())
            parts.append(f"<{name}>{inner}</{name}>")
        else:
            parts.append(message_xml({name: value})[5:-6])
    return "<xml>" + "".join(parts) + "</xml>"


def hostile_documents(planted: str) -> st.SearchStrategy[str]:
    return st.sampled_from(hostile_list(planted))


def hostile_list(planted: str) -> list[str]:
    """DTDs WeChat never sends: entity bombs and external entities naming the planted file."""
    laughs = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    content = (
        "<ToUserName><![CDATA[gh_3c884a361561]]></ToUserName><FromUserName><![CDATA[{o}]]></FromUserName>"
    )
    content = content.format(o=OPENIDS[0]) + "<CreateTime>1700000000</CreateTime><MsgType>text</MsgType>"
    documents = [
        f'<?xml version="1.0"?><!DOCTYPE xml [{laughs}]><xml>{content}<Content>&lol9;</Content></xml>',
        f'<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file://{planted}">]><xml>{content}<Content>&xxe;</Content></xml>',
        f'<!DOCTYPE xml [<!ENTITY % p SYSTEM "file://{planted}"> %p;]><xml>{content}</xml>',
        f'<!DOCTYPE xml SYSTEM "file://{planted}"><xml>{content}<Content>x</Content></xml>',
        f'<!DOCTYPE xml [<!ENTITY a "{"x" * 1000}">]><xml>{content}<Content>{"&a;" * 1000}</Content></xml>',
        '<?xml version="1.0"?><!DOCTYPE xml [<!ELEMENT xml ANY>]><xml/>',
        "<xml>" + "<a>" * 5000 + "</a>" * 5000 + "</xml>",
    ]
    return documents


def _mangled(xml: str) -> st.SearchStrategy[str | bytes]:
    """A well-formed document broken: cut short, bytes changed, not UTF-8, or made huge."""
    encoded = xml.encode("utf-8", "surrogatepass")
    return st.one_of(
        st.integers(0, max(len(xml) - 1, 0)).map(lambda cut: xml[:cut]),
        st.tuples(st.integers(0, len(encoded)), st.binary(min_size=1, max_size=8)).map(
            lambda at: encoded[: at[0]] + at[1] + encoded[at[0] :]
        ),
        st.just(xml.replace("</xml>", "</xml><xml>")),
        st.just(xml.replace("<xml>", "<xml>" + "<Pad>x</Pad>" * 7000)),
        st.just(xml.encode("utf-16", "surrogatepass")),
        huge_text.map(lambda text: f"<xml><Content>{text}</Content></xml>"),
        st.binary(max_size=200),
    )


@st.composite
def _document(draw: st.DrawFn, planted: str) -> tuple[str | bytes, bool, bool]:
    """(body, hostile, well_formed)"""
    shape = draw(st.integers(0, 19))
    if shape == 0:
        return draw(hostile_documents(planted)), True, False
    fields, well_formed = draw(_fields())
    xml = render(fields)
    if shape <= 3:
        return draw(_mangled(xml)), False, False
    return xml, False, well_formed


# ---------------------------------------------------------------- the strategies


PLANTED_PATH = "/dev/shm/planted-secret.txt"  # replaced by the service's own path at run time


def plain_cases() -> st.SearchStrategy[WeChatCase]:
    return st.builds(
        lambda doc, signing: WeChatCase(
            doc[0], signing, False, hostile=doc[1], well_formed=doc[2] and signing == "valid"
        ),
        _document(PLANTED_PATH),
        st.sampled_from(["valid"] * 8 + ["missing", "wrong", "stale"]),
    )


def encrypted_cases() -> st.SearchStrategy[WeChatCase]:
    return st.builds(
        lambda doc, signing, sealing: WeChatCase(
            doc[0],
            signing,
            True,
            sealing,
            hostile=doc[1],
            well_formed=doc[2] and signing == "valid" and sealing == "whole",
        ),
        _document(PLANTED_PATH),
        st.sampled_from(["valid"] * 8 + ["missing", "wrong", "stale"]),
        st.sampled_from(
            ["whole"] * 6 + ["other-app", "truncated", "flipped", "garbled", "no-encrypt", "outer-hostile"]
        ),
    )


# ---------------------------------------------------------------- one case


def _query(case: WeChatCase, encrypt: str | None, nonce: str) -> dict[str, str]:
    """Signed as WeChat signs: a fresh nonce per callback (the webhook refuses a signed query reused
    for another body, as a leaked URL would be)."""
    timestamp = str(int(time.time()) - (3600 if case.signing == "stale" else 0))
    token = TOKEN if case.signing in ("valid", "stale") else "not-the-token"
    query = {
        "signature": sign(token, timestamp, nonce),
        "timestamp": timestamp,
        "nonce": nonce,
        "openid": OPENIDS[0],
    }
    if case.signing == "missing":
        del query["signature"]
    if encrypt is not None:
        query["encrypt_type"] = "aes"
        query["msg_signature"] = sign(token, timestamp, nonce, encrypt)
    return query


def _sealed(case: WeChatCase, planted: str, nonce: str) -> tuple[str, str | bytes]:
    """(the Encrypt value the query signs, the outer body)"""
    inner = case.body if isinstance(case.body, str) else case.body.decode("utf-8", "replace")
    inner = inner.replace(PLANTED_PATH, planted).encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    app_id = "wx0000000000000000" if case.sealing == "other-app" else APP_ID
    sealed = WeChatCrypto(TOKEN, AES_KEY, app_id).encrypt_message(inner, nonce, str(int(time.time())))
    encrypt = str(xmltodict.parse(sealed)["xml"]["Encrypt"])
    raw = base64.b64decode(encrypt)
    if case.sealing == "truncated":
        encrypt = base64.b64encode(raw[: len(raw) // 2 + 3]).decode()
    elif case.sealing == "flipped":
        encrypt = base64.b64encode(raw[:-17] + bytes([raw[-17] ^ 0xFF]) + raw[-16:]).decode()
    elif case.sealing == "garbled":
        encrypt = encrypt[: len(encrypt) // 2] + "*!é" + encrypt[len(encrypt) // 2 + 3 :]
    if case.sealing == "no-encrypt":
        return encrypt, f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName></xml>"
    if case.sealing == "outer-hostile":
        return (
            encrypt,
            f'<!DOCTYPE xml [<!ENTITY e SYSTEM "file://{planted}">]><xml><Encrypt>&e;</Encrypt></xml>',
        )
    return (
        encrypt,
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>",
    )


async def exercise(service: FuzzService, case: WeChatCase) -> tuple[str, list[str]]:
    planted = str(service.planted)
    nonce = str(secrets.randbelow(10**10))
    if case.encrypted:
        encrypt, body = _sealed(case, planted, nonce)
        query = _query(case, encrypt, nonce)
    else:
        body = case.body.replace(PLANTED_PATH, planted) if isinstance(case.body, str) else case.body
        query = _query(case, None, nonce)
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    started = time.monotonic()
    reply = await service.request("POST", PATH, params=query, data=data, headers={"Content-Type": "text/xml"})
    problems = service.verdict(reply)
    if time.monotonic() - started > 3:
        problems.append(f"slow answer: {time.monotonic() - started:.1f} s (an entity expanded?)")
    if case.signing != "valid" and reply.status < 400:
        problems.append(f"unsigned, wrongly signed or stale callback answered {reply.status}")
    outer_hostile = case.encrypted and case.sealing == "outer-hostile"
    readable = not case.encrypted or case.sealing == "whole"  # else the envelope is refused first
    if case.signing == "valid" and ((case.hostile and readable) or outer_hostile) and reply.status != 400:
        problems.append(f"a document with a DTD answered {reply.status}, not 400")
    if (
        case.encrypted
        and case.signing == "valid"
        and case.sealing == "other-app"
        and reply.status not in (403, 413)
    ):
        problems.append(f"a payload sealed for another app id answered {reply.status}, not 403")
    if case.well_formed:
        problems += _answered(reply.status, reply.text, case.encrypted)
    return str(reply.status), problems


def _answered(status: int, body: str, encrypted: bool) -> list[str]:
    if status != 200:
        return [f"a text message WeChat could send was refused: {status} {body[:200]}"]
    if body == "success":
        return []
    try:
        fields = read_reply(body)
    except Exception as exc:  # whatever the reply is, it must be one WeChat can read
        return [f"the passive reply cannot be read back ({type(exc).__name__}: {exc})"]
    if encrypted and "Encrypt" not in body:
        return ["an encrypted message answered in plain text"]
    if fields.get("MsgType") != "text" or not fields.get("Content"):
        return [f"the passive reply is not a text message: {sorted(fields)}"]
    return []
