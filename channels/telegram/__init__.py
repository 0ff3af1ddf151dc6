"""Telegram (aiogram 3): a webhook authenticated by its secret token, or long polling for development;
choices shown as inline keyboards."""

from channels.telegram.channel import TelegramChannel

__all__ = ["TelegramChannel"]
