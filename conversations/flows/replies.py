"""Shaping a turn's replies for the channel: one message per question, never longer than it allows.

Flows say things in small pieces (an explanation, then the question); sending each piece as its own
message would cost SMS users a segment each and scatter the question over several bubbles. So pieces
are joined up to and including the next message that offers choices, and only then cut to the
channel's maximum length, at line boundaries, keeping the choices on the last part.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.messages import Capabilities, Choice, Outbound, render_text


def merge(replies: Iterable[Outbound]) -> list[Outbound]:
    """Join consecutive pieces; a piece with choices closes a message."""
    merged: list[Outbound] = []
    pending: list[str] = []
    for reply in replies:
        if reply.text:
            pending.append(reply.text)
        if reply.choices:
            merged.append(Outbound("\n".join(pending), reply.choices))
            pending = []
    if pending:
        merged.append(Outbound("\n".join(pending)))
    return merged


def offered_keys(replies: list[Outbound]) -> list[str]:
    """The choices a typed number refers to: those of the last message that showed any."""
    for reply in reversed(replies):
        if reply.choices:
            return [choice.key for choice in reply.choices]
    return []


def with_choice(replies: list[Outbound], extra: Choice) -> list[Outbound]:
    """Add a choice to the question just asked (the last message), unless it is there already."""
    if not replies:
        return [Outbound("", (extra,))]
    last = replies[-1]
    if any(choice.key == extra.key for choice in last.choices):
        return replies
    return [*replies[:-1], Outbound(last.text, (*last.choices, extra))]


def fit(message: Outbound, capabilities: Capabilities) -> list[Outbound]:
    """Cut a message that the channel cannot show whole into several, at line boundaries."""
    limit = capabilities.max_length
    if len(render_text(message, capabilities)) <= limit:
        return [message]
    tail = len(render_text(Outbound("", message.choices), capabilities)) if message.choices else 0
    if tail > limit // 2:
        # So many choices that they need cutting too: show them as plain numbered lines instead.
        # Typed numbers still work: the engine remembers the offered keys before shaping.
        message = Outbound(render_text(message, Capabilities(buttons=False, concise=False)))
        tail = 0
    chunks = _pack(message.text.split("\n"), limit)
    if tail:
        last_lines = chunks.pop().split("\n")
        moved: list[str] = []
        while len("\n".join(last_lines)) + tail > limit and len(last_lines) > 1:
            moved.insert(0, last_lines.pop())
        chunks.append("\n".join(last_lines))
        if moved:
            chunks.append("\n".join(moved))
    parts = [Outbound(chunk) for chunk in chunks]
    parts[-1] = Outbound(parts[-1].text, message.choices)
    return parts


def _pack(lines: list[str], limit: int) -> list[str]:
    chunks: list[str] = []
    current: str | None = None
    for line in lines:
        for piece in _cut(line, limit):
            candidate = piece if current is None else f"{current}\n{piece}"
            if len(candidate) <= limit:
                current = candidate
            else:
                if current is not None:
                    chunks.append(current)
                current = piece
    chunks.append(current or "")
    return chunks


def _cut(line: str, limit: int) -> list[str]:
    if len(line) <= limit:
        return [line]
    return [line[start : start + limit] for start in range(0, len(line), limit)]


def shape(replies: Iterable[Outbound], capabilities: Capabilities) -> list[Outbound]:
    return [part for message in merge(replies) for part in fit(message, capabilities)]
