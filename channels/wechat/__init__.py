"""WeChat official accounts (公众号): webhook in plain, compatible and safe mode, passive replies within
WeChat's time limit, the customer-service message API for everything else, and the custom menu."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from channels.wechat.channel import WeChatChannel

__all__ = ["WeChatChannel"]


def __getattr__(name: str) -> Any:
    """Imported on first use: `sunshine` imports this package for its CLI and its settings, and wechatpy
    (with requests) would otherwise cost every process about 15 MB even where WeChat is not configured."""
    if name == "WeChatChannel":
        from channels.wechat.channel import WeChatChannel

        return WeChatChannel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
