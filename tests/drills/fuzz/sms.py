"""Twilio's two webhooks, fuzzed: incoming-message and status forms, validly signed with twilio's own
RequestValidator (so the parser behind the signature is what gets tested), plus a share signed wrongly,
not at all, or with a body that is not a form."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import quote
from xml.etree import ElementTree

from hypothesis import strategies as st
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from tests.drills.fuzz.service import BOT, PUBLIC, SMS_FROM, FuzzService
from tests.drills.fuzz.values import huge_text, message_text, odd_text
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN

INBOUND = f"/webhooks/sms/{BOT}"
STATUS = f"/webhooks/sms/{BOT}/status"
SENDERS = ("+8613800138000", "+8613900139000", "+8615000150000", "+15005550001")
REPLAYED = tuple(f"SM{n:032x}" for n in range(4))  # ids that come round again: a provider's retries


@dataclass(frozen=True)
class SmsCase:
    path: str
    fields: tuple[tuple[str, str], ...]  # in order, repeats allowed, as a form can carry them
    signing: str  # "valid", "missing", "garbled", "other-token"
    content_type: str = "application/x-www-form-urlencoded"
    raw: bytes | None = None  # a body that is not the encoded fields


def encode(fields: tuple[tuple[str, str], ...]) -> bytes:
    """The form as Twilio's client writes it; text a codec cannot carry goes as the bytes it would be."""
    return "&".join(_quoted(name) + "=" + _quoted(value) for name, value in fields).encode("ascii")


def _quoted(value: str) -> str:
    raw = value.encode("utf-8", "surrogatepass")
    if len(raw) < 200:
        return quote(raw, safe="")
    return "%" + raw.hex("%") if raw else ""  # every byte escaped: the same form, made in C


def signature(case: SmsCase) -> str | None:
    if case.signing == "missing":
        return None
    if case.signing == "garbled":
        return "bm90IGEgc2lnbmF0dXJl=="
    token = AUTH_TOKEN if case.signing == "valid" else "0" * 32
    try:
        return str(RequestValidator(token).compute_signature(PUBLIC + case.path, MultiDict(case.fields)))
    except UnicodeEncodeError:
        return "c2lnbmF0dXJlIG9mIGEgc3Vycm9nYXRl"  # unsignable (lone surrogate): refused before this matters


def message_fields(body: str, *, sender: str) -> tuple[tuple[str, str], ...]:
    """A plain incoming message, as Twilio posts one."""
    sid = "SM" + uuid.uuid4().hex
    return (("MessageSid", sid), ("SmsSid", sid), ("NumMedia", "0"), ("Body", body), ("From", sender),
            ("To", SMS_FROM), ("AccountSid", ACCOUNT_SID))  # fmt: skip


# Every strategy is made once, here: hypothesis validates and labels each strategy object it meets, and
# at a hundred thousand cases building them inside the draw costs more than the requests.
_fresh_sid = st.builds(lambda: "SM" + uuid.uuid4().hex)
SID = st.one_of(
    _fresh_sid,
    _fresh_sid,
    _fresh_sid,
    _fresh_sid,
    st.sampled_from(REPLAYED),
    odd_text,
    st.just(""),
    st.text("0aZ", max_size=70),
)
SENDER = st.one_of(
    st.sampled_from(SENDERS), st.sampled_from(SENDERS), st.sampled_from(SENDERS), odd_text, st.just("")
)
NUM_MEDIA = st.one_of(
    st.just("0"), st.just("0"), st.sampled_from(["1", "3", "11", "-1", "1e3", "٣", " 2", "99999"]), odd_text
)
MEDIA_URL = st.one_of(st.just("https://api.twilio.com/m/0.jpg"), odd_text)
MEDIA_TYPE = st.sampled_from(["image/jpeg", "video/mp4", "", "IMAGE/PNG"])
MEDIA_COUNT = st.sampled_from([0, 0, 0, 1, 3])
EXTRA_NAME = st.sampled_from(["Body", "From", "MessageSid", "NumMedia", "X"])
ONE_IN_SIX = st.integers(0, 5)
TWILIO_STATUS = st.one_of(
    st.sampled_from(["sent", "delivered", "read", "undelivered", "failed", "queued", "canceled"]), odd_text
)
ERROR_CODE = st.one_of(st.just(""), st.sampled_from(["0", "21610", "30003", "1234567", "-1"]), odd_text)
PATHS = st.sampled_from([INBOUND, INBOUND, INBOUND, STATUS])
SIGNING = st.sampled_from(["valid"] * 7 + ["missing", "garbled", "other-token"])
SHAPE = st.integers(0, 19)
RAW = st.binary(max_size=300)
CONTENT_TYPE = st.sampled_from(["text/plain", "application/json", "multipart/form-data"])
HUGE_FIELD = st.sampled_from(["Body", "From", "MediaUrl0"])
MISSING = {n: st.integers(-3 * n, n - 1) for n in range(1, 30)}
TEXT = message_text()


def _drop_one(draw: st.DrawFn, fields: list[tuple[str, str]]) -> None:
    """Now and then a field is missing."""
    missing = draw(MISSING[len(fields)])
    if missing >= 0:
        del fields[missing]


@st.composite
def _message_fields(draw: st.DrawFn) -> tuple[tuple[str, str], ...]:
    sid = draw(SID)
    fields: list[tuple[str, str]] = [
        ("ToCountry", "US"),
        ("SmsMessageSid", sid),
        ("NumMedia", draw(NUM_MEDIA)),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("Body", draw(TEXT)),
        ("To", SMS_FROM),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", draw(SENDER)),
        ("ApiVersion", "2010-04-01"),
    ]
    for index in range(draw(MEDIA_COUNT)):
        fields.append((f"MediaUrl{index}", draw(MEDIA_URL)))
        fields.append((f"MediaContentType{index}", draw(MEDIA_TYPE)))
    _drop_one(draw, fields)
    if draw(ONE_IN_SIX) == 0:
        fields.append((draw(EXTRA_NAME), draw(odd_text)))
    if draw(ONE_IN_SIX) == 0:
        fields.reverse()
    return tuple(fields)


@st.composite
def _status_fields(draw: st.DrawFn) -> tuple[tuple[str, str], ...]:
    fields = [
        ("MessageSid", draw(SID)),
        ("MessageStatus", draw(TWILIO_STATUS)),
        ("ErrorCode", draw(ERROR_CODE)),
        ("To", draw(SENDER)),
        ("AccountSid", ACCOUNT_SID),
    ]
    _drop_one(draw, fields)
    return tuple(fields)


MESSAGE_FIELDS = _message_fields()
STATUS_FIELDS = _status_fields()


@st.composite
def _cases(draw: st.DrawFn) -> SmsCase:
    path = draw(PATHS)
    fields = draw(MESSAGE_FIELDS if path == INBOUND else STATUS_FIELDS)
    signing = draw(SIGNING)
    shape = draw(SHAPE)
    if shape == 0:
        return SmsCase(path, fields, signing, raw=draw(RAW))
    if shape == 1:
        return SmsCase(path, fields, signing, content_type=draw(CONTENT_TYPE))
    if shape == 2:
        return SmsCase(path, fields, signing, raw=encode(fields) + b"&" + b"a=" * 40_000)  # huge body
    if shape == 3:
        name = draw(HUGE_FIELD)
        fields = tuple((n, draw(huge_text)) if n == name else (n, v) for n, v in fields)  # one huge value
    return SmsCase(path, fields, signing)


CASES = _cases()


def cases() -> st.SearchStrategy[SmsCase]:
    return CASES


def must_be_answered(case: SmsCase) -> bool:
    """A form only Twilio could send and the webhook must take: signed, whole, well-formed fields."""
    if (
        case.signing != "valid"
        or case.raw is not None
        or case.path != INBOUND
        or case.content_type.startswith("multipart")
    ):
        return False
    if case.content_type != "application/x-www-form-urlencoded" or len(encode(case.fields)) > 60_000:
        return False
    form = MultiDict(case.fields)
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or ""
    sender = form.get("From", "").strip()
    media = form.get("NumMedia", "0").strip() or "0"
    encodable = all(_utf8(name) and _utf8(value) for name, value in case.fields)
    return (
        encodable
        and sid.isascii()
        and sid.isalnum()
        and 2 <= len(sid) <= 64
        and bool(sender)
        and len(sender) <= 64
        and sender.isprintable()
        and media.isascii()
        and media.isdigit()
        and len(media) <= 4
    )


def _utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def exercise(service: FuzzService, case: SmsCase) -> tuple[str, list[str]]:
    headers = {"Content-Type": case.content_type}
    sig = signature(case)
    if sig is not None:
        headers["X-Twilio-Signature"] = sig
    body = case.raw if case.raw is not None else encode(case.fields)
    reply = await service.request("POST", case.path, data=body, headers=headers)
    problems = service.verdict(reply)
    if case.signing != "valid" and reply.status < 400:
        problems.append(f"unsigned or wrongly signed request answered {reply.status}")
    if must_be_answered(case):
        if reply.status != 200:
            problems.append(f"a valid signed message was refused: {reply.status} {reply.text[:200]}")
        else:
            try:
                root = ElementTree.fromstring(reply.body)
                if root.tag != "Response":
                    problems.append("TwiML answer without <Response>")
            except ElementTree.ParseError as exc:
                problems.append(f"the TwiML answer is not XML ({exc})")
    return str(reply.status), problems
