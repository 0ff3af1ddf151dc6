"""Builds the whole service from settings, in one place and only when asked (never at import time).

Every command (serve, worker, chat, handoff) starts here, so they all see the same database, keys,
rules and bots; tests call the same function with a test clock and fast password hashing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import time
from typing import Any, Literal

from bots import demo
from bots.dispatcher import Dispatcher
from bots.imitation import SMS
from bots.mailbox import OutboxMailbox
from bots.pipeline import Pipeline, Services, UnknownBot
from bots.settings import BotSettings, Settings, SettingsError
from channels import registry
from channels.base import Channel, ChannelContext
from channels.webchat import Persona
from conversations.engine import BotProfile, OfficeHours
from core import outbox
from core.backend import Backend
from core.clock import Clock, SystemClock
from core.crypto import Keyring, load_or_create_secret
from core.messages import Capabilities, Inbound, Outbound
from core.policy import Policy
from core.workdays import WorkCalendar
from storage.database import Database

log = logging.getLogger(__name__)

PasswordCost = Literal["normal", "fast"]


@dataclass
class Deployment:
    """Everything a running process needs, built once by `bootstrap`."""

    settings: Settings
    services: Services
    pipeline: Pipeline
    channels: dict[str, Channel]  # installed channel adapters by name
    bot_channels: dict[str, frozenset[str]]  # bot id → the channels it answers on
    capabilities: dict[str, Capabilities]  # channel name → what replies on it may use
    senders: dict[str, Channel]  # channel name → who delivers its outbox rows
    mailbox: OutboxMailbox
    dispatcher: Dispatcher
    demo: bool = False
    _contexts: dict[str, ChannelContext] = field(default_factory=dict, init=False)

    def _capabilities_for(self, inbound: Inbound) -> Capabilities:
        if inbound.channel not in self.bot_channels.get(inbound.bot_id, frozenset()):
            raise UnknownBot(f"{inbound.bot_id}/{inbound.channel}")
        return self.capabilities[inbound.channel]

    async def handle(self, inbound: Inbound) -> list[Outbound]:
        """A webhook's message: the bot must answer on that channel; the replies go back inline."""
        return await self.pipeline.handle(inbound, self._capabilities_for(inbound), inline=True)

    async def handle_within(self, inbound: Inbound, budget: float) -> list[Outbound] | None:
        """The same for platforms that wait only `budget` seconds; None leaves the replies to the outbox."""
        fits = getattr(self.channels.get(inbound.channel), "fits_inline", None)
        return await self.pipeline.handle_within(
            inbound, self._capabilities_for(inbound), budget, inline_if=fits
        )

    async def report_status(self, provider_message_id: str, status: str, error: str | None) -> bool:
        """A platform's delivery report for a message the outbox sent; False when it is not ours."""
        async with self.services.database.transaction() as session:
            return await outbox.mark_status(
                self.services.backend(session), provider_message_id, status, error=error
            )

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[Backend]:
        async with self.services.database.transaction() as session:
            yield self.services.backend(session)

    def context_for(self, channel: str) -> ChannelContext:
        """One context per channel, so a channel that compares contexts sees the same one every time."""
        context = self._contexts.get(channel)
        if context is None:
            bot_ids = tuple(bot_id for bot_id, names in self.bot_channels.items() if channel in names)
            tables = self.settings.channels.get(channel, {})
            context = self._contexts[channel] = ChannelContext(
                bot_ids=bot_ids,
                handle=self.handle,
                mailbox=self.mailbox,
                settings={bot_id: tables[bot_id] for bot_id in bot_ids if bot_id in tables},
                public_base_url=self.settings.public_base_url or "",
                handle_within=self.handle_within,
                report_status=self.report_status,
                unit_of_work=self.unit_of_work,
            )
        return context

    async def close(self) -> None:
        """Finish steps still running, close the channels' platform clients, then the database."""
        try:
            await self.pipeline.drain()
            for channel in self.channels.values():
                close = getattr(channel, "close", None)
                if close is not None:
                    await close()
        finally:
            await self.services.database.dispose()


def bot_settings(settings: Settings, *, demo_mode: bool) -> dict[str, BotSettings]:
    """The configured bots, plus the demo bot in demo mode; at least one, or a clear error."""
    bots = dict(settings.bots)
    if demo_mode:
        bots.setdefault(demo.DEMO_BOT_ID, demo.demo_bot_settings())
    if not bots:
        raise SettingsError(
            "no bots configured: add a [bots.<id>] table to the configuration file, or try --demo"
        )
    return bots


def build_policy(settings: Settings) -> Policy:
    overrides = settings.policy
    tuned: dict[str, Any] = {
        name: value
        for name in (
            "lookup_hint_after",
            "lookup_lock_after",
            "lookup_window_minutes",
            "lookup_lock_minutes",
            "sender_lock_after",
            "survey_expiry_hours",
            "reminder_days",
            "red_after_days",
            "rating_correction_minutes",
            "survey_rate_per_minute",
            "duplicate_threshold",
            "duplicate_sender_threshold",
            "duplicate_window_days",
            "duplicate_min_chars",
            "outbox_lease_seconds",
        )
        if (value := getattr(overrides, name)) is not None
    }
    if overrides.quiet_hours is not None:
        quiet = [time.fromisoformat(moment) for moment in overrides.quiet_hours]
        tuned["quiet_hours"] = (quiet[0], quiet[1]) if quiet else None
    return Policy(
        timezone=settings.timezone,
        answer_days={**Policy().answer_days, **overrides.answer_days},
        accept_days={**Policy().accept_days, **overrides.accept_days},
        extra_holidays=frozenset(overrides.holidays),
        extra_workdays=frozenset(overrides.workdays),
        **tuned,
    )


def build_keyring(settings: Settings, password_cost: PasswordCost = "normal") -> Keyring:
    if settings.secret_key is not None:
        secret = settings.secret_key.get_secret_value()
    elif not settings.database.startswith("sqlite"):
        # Processes sharing a database must share the key, and a generated key file belongs to one
        # machine: another machine would make its own and could read nothing the first one wrote.
        raise SettingsError(
            "secret_key: a shared database needs the same SUNSHINE_SECRET_KEY in every process; "
            "set it (a generated key file is only for a single machine with SQLite)"
        )
    else:
        path = settings.data_dir / "secret.key"
        try:
            secret = load_or_create_secret(path)
        except (OSError, ValueError) as exc:
            raise SettingsError(f"{path}: cannot use the secret key file: {exc}") from None
    try:
        return Keyring(secret, password_cost=password_cost)
    except ValueError as exc:
        raise SettingsError(f"secret_key: {exc}") from None


def build_profiles(bots: Mapping[str, BotSettings]) -> dict[str, BotProfile]:
    return {
        bot_id: BotProfile(
            bot_id=bot_id,
            name=bot.name,
            default_language=bot.language,
            departments=tuple(bot.departments),
            office_hours=OfficeHours(
                weekdays=frozenset(bot.office_hours.weekdays),
                opens=bot.office_hours.opens,
                closes=bot.office_hours.closes,
            ),
            subsidy_otp=bot.subsidy_otp,
        )
        for bot_id, bot in bots.items()
    }


def build_services(
    settings: Settings,
    bots: Mapping[str, BotSettings],
    *,
    password_cost: PasswordCost = "normal",
    clock: Clock | None = None,
) -> Services:
    policy = build_policy(settings)
    keyring = build_keyring(settings, password_cost)
    return Services(
        database=Database(settings.database, pool_size=settings.database_pool_size),
        keyring=keyring,
        clock=clock or SystemClock(),
        policy=policy,
        calendar=WorkCalendar(extra_holidays=policy.extra_holidays, extra_workdays=policy.extra_workdays),
        profiles=build_profiles(bots),
    )


def bootstrap(
    settings: Settings,
    *,
    demo_mode: bool = False,
    password_cost: PasswordCost = "normal",
    clock: Clock | None = None,
) -> Deployment:
    """The whole service for `settings`; raises SettingsError / ChannelLoadError for what to fix."""
    bots = bot_settings(settings, demo_mode=demo_mode)
    _check_channel_tables(settings, bots)
    bot_channels = {bot_id: frozenset(bot.channels) for bot_id, bot in bots.items()}
    wanted = sorted(set().union(*bot_channels.values()))
    options: dict[str, dict[str, Any]] = {name: {} for name in wanted}
    persona_ok = demo_mode and "webchat" in bot_channels.get(demo.DEMO_BOT_ID, ()) and "sms" not in wanted
    if persona_ok:
        options["webchat"]["personas"] = {demo.DEMO_PERSONA: Persona("sms", demo.DEMO_PHONE, SMS)}
    elif demo_mode:
        log.warning("demo: the demo phone persona needs the web chat and no real SMS channel; left out")
    channels = registry.load_all(options)
    capabilities = {name: channel.capabilities for name, channel in channels.items()}
    senders: dict[str, Channel] = dict(channels)
    if persona_ok:
        # The demo phone's messages are "sent" to the browser page that speaks as it.
        capabilities["sms"] = SMS
        senders["sms"] = channels["webchat"]
        bot_channels[demo.DEMO_BOT_ID] = bot_channels[demo.DEMO_BOT_ID] | {"sms"}

    services = build_services(settings, bots, password_cost=password_cost, clock=clock)
    deployment = Deployment(
        settings=settings,
        services=services,
        pipeline=Pipeline(services),
        channels=channels,
        bot_channels=bot_channels,
        capabilities=capabilities,
        senders=senders,
        mailbox=OutboxMailbox(services),
        dispatcher=Dispatcher(services, senders, send_rates=settings.send_rates),
        demo=demo_mode,
    )
    _configure(deployment)
    return deployment


def _check_channel_tables(settings: Settings, bots: Mapping[str, BotSettings]) -> None:
    """A channel table for a bot that does not exist is a typo that would otherwise be ignored."""
    for channel, tables in settings.channels.items():
        for bot_id in tables:
            if bot_id not in bots:
                raise SettingsError(f"channels.{channel}.{bot_id}: there is no bot {bot_id!r}")


def _configure(deployment: Deployment) -> None:
    """Let each channel check its settings now (every process, the worker too): a wrong token stops
    the start with a message instead of failing every message later."""
    for name, channel in deployment.channels.items():
        configure = getattr(channel, "configure", None)
        if configure is None:
            continue
        try:
            configure(deployment.context_for(name))
        except ValueError as exc:  # each channel's settings problem is a ValueError naming the setting
            raise SettingsError(f"channel {name}: {exc}") from None
