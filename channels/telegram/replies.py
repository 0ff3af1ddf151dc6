"""How the answer to one update reaches the citizen: the webhook response, the Bot API, or the outbox.

Telegram executes one method carried in the webhook response, after it has read the response, and
tells nobody whether it worked. So:

- Replies that the pipeline left in the outbox (the step outlasted the reply budget, or the poller's
  handler queued them) are the dispatcher's: it sends each row exactly once through `send()`, with
  retries. The response then only answers a pressed button.
- Replies handed back to us are already recorded as sent, and must go out now, in order. The last
  message rides in the webhook response; any before it are sent through the Bot API while Telegram
  waits for the response, so they arrive first. A pressed button is answered through the API first.
  Most answers are one message, and then nothing but the response is needed.
- A redelivered update (our response never reached Telegram, so its method never ran) is a replay in
  the pipeline: the same replies come back and go out the same way, once.

The one gap: parts sent through the API during the request are already recorded as sent, so a part
Telegram keeps refusing until the request's time is up is lost (logged), and a redelivery of that
update would show the citizen the parts that did arrive again. `TelegramChannel.fits_inline` lets
the pipeline close it, by leaving an answer of several messages to the outbox instead of handing it
over; then only single-message answers come back here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram.methods import AnswerCallbackQuery, SendMessage

from channels.telegram.client import TelegramClients
from channels.telegram.keyboards import as_webhook_reply, send_messages
from channels.telegram.updates import Incoming
from core.messages import Inbound, Outbound

# Runs one message through the pipeline: the replies to deliver now, or None when the outbox has them.
ReplyHandler = Callable[[Inbound], Awaitable[list[Outbound] | None]]

# How long a webhook request may spend sending the parts before its last (Telegram waits about a minute).
INLINE_SECONDS = 20.0


def callback_answer(callback_query_id: str) -> dict[str, Any]:
    return as_webhook_reply(AnswerCallbackQuery(callback_query_id=callback_query_id))


def calls_for(chat_id: int, replies: list[Outbound]) -> list[SendMessage]:
    return [call for reply in replies for call in send_messages(chat_id, reply)]


async def answer_webhook(
    clients: TelegramClients, bot_id: str, incoming: Incoming, handle: ReplyHandler
) -> dict[str, Any]:
    """Handle the update and return the webhook response body (one method, or nothing)."""
    nothing = callback_answer(incoming.callback_query_id) if incoming.callback_query_id else {}
    if incoming.inbound is None or incoming.chat_id is None:
        return nothing
    replies = await handle(incoming.inbound)
    if replies is None:
        return nothing
    calls = calls_for(incoming.chat_id, replies)
    if not calls:
        return nothing
    if incoming.callback_query_id:
        await clients.answer_callback(bot_id, incoming.callback_query_id)
    sender = incoming.inbound.sender
    deadline = asyncio.get_running_loop().time() + INLINE_SECONDS
    for call in calls[:-1]:
        await clients.push(bot_id, sender, call, deadline=deadline)
    # The response's message counts against the chat's one-a-second too; wait for its turn.
    await clients.limiter(bot_id).wait(sender)
    return as_webhook_reply(calls[-1])


async def answer_polled(
    clients: TelegramClients, bot_id: str, incoming: Incoming, handle: ReplyHandler, *, seconds: float = 60.0
) -> None:
    """The same for an update fetched by long polling, which has no response to ride in."""
    if incoming.callback_query_id:
        await clients.answer_callback(bot_id, incoming.callback_query_id)
    if incoming.inbound is None or incoming.chat_id is None:
        return
    replies = await handle(incoming.inbound)
    if not replies:
        return
    deadline = asyncio.get_running_loop().time() + seconds
    for call in calls_for(incoming.chat_id, replies):
        await clients.push(bot_id, incoming.inbound.sender, call, deadline=deadline)
