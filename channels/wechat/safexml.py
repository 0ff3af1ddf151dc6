"""A strict look at XML before any library parses it.

xmltodict (under wechatpy) is built on expat, which expands internal entities and may be asked for
external ones: a body with a DOCTYPE could inflate a few hundred bytes into gigabytes ("billion
laughs") or point at local files. WeChat never sends a DTD, so any document type or entity
declaration is refused outright, as is nesting deeper than any WeChat message has.
"""

from __future__ import annotations

from typing import Any
from xml.parsers import expat

MAX_DEPTH = 8  # WeChat's deepest message (scan-code events) nests three levels


class UnsafeXml(ValueError):
    """XML we will not hand to a parser: a DTD, an entity declaration, or absurd nesting."""


class MalformedXml(ValueError):
    """Not well-formed XML."""


def check(text: str) -> None:
    """Raise UnsafeXml or MalformedXml unless `text` is a plain, well-formed document."""
    parser = expat.ParserCreate()
    depth = 0

    def refuse(*_: Any) -> None:
        raise UnsafeXml("document type or entity declarations are not accepted")

    def start(name: str, attributes: Any) -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_DEPTH:
            raise UnsafeXml("nested too deeply")

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(text, True)
    except expat.ExpatError as exc:
        raise MalformedXml(f"not well-formed XML ({expat.ErrorString(exc.code)})") from None
