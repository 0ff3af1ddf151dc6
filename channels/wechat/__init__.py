"""WeChat official accounts (公众号): webhook in plain, compatible and safe mode, passive replies within
WeChat's time limit, the customer-service message API for everything else, and the custom menu."""

from channels.wechat.channel import WeChatChannel

__all__ = ["WeChatChannel"]
