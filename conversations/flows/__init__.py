"""The flows a conversation can be in, by name: the main menu, the four services, and handoff.

Each module holds one flow: its named steps, its transition graph (data a test walks) and the
handlers. The engine (`conversations.engine.step`) owns what all flows share: global words,
unknown answers, language, and shaping replies for the channel.
"""

from __future__ import annotations

from conversations.flows import handoff, lookup, menu, rate, submit, subsidy
from conversations.flows.machine import Flow

FLOWS: dict[str, Flow] = {
    flow.name: flow for flow in (menu.FLOW, submit.FLOW, lookup.FLOW, subsidy.FLOW, rate.FLOW, handoff.FLOW)
}

__all__ = ["FLOWS"]
