"""The flows' transition graphs, walked: no step unreachable, no step from which a citizen cannot get out.

Global words (菜单, 取消, 人工) always offer a way out at run time, but a flow must not rely on them:
every step must also reach an end (or another flow that does) through its own answers.
"""

from __future__ import annotations

from collections import deque

import pytest

from bots.pipeline import Pipeline
from conversations.engine import BotProfile
from conversations.flows import FLOWS, lookup, submit
from conversations.flows.machine import ENDS, Flow, IllegalTransition, Move, Said, Step, Talk, split_target
from core.messages import Capabilities, Inbound
from core.policy import CASE_KINDS

FLOW_IDS = sorted(FLOWS)


def _node(flow: Flow, target: str) -> str:
    """A graph target as a global node name: "flow.step", or the end itself."""
    if target in ENDS:
        return target
    if target in flow.steps:
        return f"{flow.name}.{target}"
    name, step = split_target(target)
    return f"{name}.{step or FLOWS[name].entry}"


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for flow in FLOWS.values():
        for origin, targets in flow.graph.items():
            edges[f"{flow.name}.{origin}"] = {_node(flow, target) for target in targets}
    return edges


@pytest.mark.parametrize("name", FLOW_IDS)
def test_every_target_exists(name: str) -> None:
    flow = FLOWS[name]
    for origin, targets in flow.graph.items():
        for target in targets:
            if target in ENDS or target in flow.steps:
                continue
            other, step = split_target(target)
            assert other in FLOWS, f"{name}.{origin} → unknown flow {other!r}"
            assert other != name, f"{name}.{origin} names its own flow in {target!r}"
            assert step is None or step in FLOWS[other].steps, f"{name}.{origin} → unknown step {target!r}"


@pytest.mark.parametrize("name", FLOW_IDS)
def test_every_step_is_reachable(name: str) -> None:
    """From the flow's entry, or from a step of another flow that jumps straight into it."""
    flow = FLOWS[name]
    edges = _edges()
    starts = {f"{name}.{flow.entry}"} | {
        node for targets in edges.values() for node in targets if node.startswith(f"{name}.")
    }
    seen = set(starts)
    queue = deque(starts)
    while queue:
        for node in edges.get(queue.popleft(), ()):
            if node.startswith(f"{name}.") and node not in seen:
                seen.add(node)
                queue.append(node)
    assert seen == {f"{name}.{step}" for step in flow.steps}


@pytest.mark.parametrize("name", FLOW_IDS)
def test_every_step_can_finish(name: str) -> None:
    """Each step reaches an end (@idle, @menu, @handoff) by answers alone, possibly via another flow."""
    edges = _edges()
    for step in FLOWS[name].steps:
        seen: set[str] = set()
        queue = deque([f"{name}.{step}"])
        finished = False
        while queue and not finished:
            node = queue.popleft()
            for following in edges.get(node, ()):
                if following in ENDS:
                    finished = True
                elif following not in seen:
                    seen.add(following)
                    queue.append(following)
        assert finished, f"{name}.{step} can never reach an end"


def test_the_main_menu_reaches_every_service() -> None:
    menu_targets = {target for targets in FLOWS["menu"].graph.values() for target in targets}
    assert {"submit", "lookup", "subsidy", "rate"} <= {split_target(t)[0] for t in menu_targets}


def test_every_case_kind_has_its_texts() -> None:
    assert set(submit.KIND_LABELS) == set(CASE_KINDS)
    assert set(submit.KIND_WORDS) == set(CASE_KINDS)


async def test_the_engine_refuses_a_transition_the_graph_does_not_list(
    pipeline: Pipeline, profile: BotProfile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flow bug must fail loudly (and roll back), not wander into a step the graph does not know."""

    async def jump_to_the_end(talk: Talk, said: Said) -> Move:
        return Move("@handoff")  # lookup.case_number may only go to "password"

    original = lookup.FLOW.steps["case_number"]
    monkeypatch.setitem(
        lookup.FLOW.steps,  # type: ignore[arg-type]
        "case_number",
        Step(original.ask, jump_to_the_end, original.help),
    )
    capabilities = Capabilities()

    def message(number: int, text: str) -> Inbound:
        return Inbound(
            channel="webchat", bot_id=profile.bot_id, sender="graph-test", message_id=str(number), text=text
        )

    await pipeline.handle(message(1, "查询"), capabilities, inline=True)
    with pytest.raises(IllegalTransition):
        await pipeline.handle(message(2, "123"), capabilities, inline=True)
