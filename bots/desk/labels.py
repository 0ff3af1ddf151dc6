"""The desk's words for codes stored in the database, and how times are shown to clerks.

The desk speaks Chinese (the clerks' language) and is not translated, so these are plain tables
rather than catalog entries; the citizen-facing catalogs stay the citizens'.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

CASE_STATUS = {
    "submitted": "待受理",
    "accepted": "已受理",
    "declined": "不予受理",
    "assigned": "已交办",
    "in_progress": "办理中",
    "replied": "已答复",
    "closed": "已办结",
}
OPEN_STATUSES = ("submitted", "accepted", "assigned", "in_progress")
FINISHED_STATUSES = ("closed", "declined")
CASE_KIND = {"complaint": "投诉", "tip": "举报", "suggestion": "建议", "question": "咨询"}
CHANNEL = {
    "webchat": "网页",
    "sms": "短信",
    "wechat": "微信",
    "telegram": "Telegram",
    "console": "终端",
}
ROLE = {"admin": "管理员", "supervisor": "纪检监察", "staff": "科室人员"}
HANDOFF_STATUS = {"waiting": "等待接入", "claimed": "处理中", "closed": "已结束"}
HANDOFF_REASON = {"asked": "市民要求", "not_understood": "机器人未听懂"}
DELIVERY = {
    "pending": "排队中",
    "sending": "发送中",
    "sent": "已发出",
    "delivered": "已送达",
    "undelivered": "未送达",
    "failed": "发送失败",
    "undeliverable": "无法送达",
}
GRADE = {1: "满意", 2: "基本满意", 3: "不满意", 4: "很差"}
WARNING_KIND = {"low_rating": "差评", "overdue": "超期"}
WARNING_LEVEL = {"yellow": "黄牌", "red": "红牌"}
EVENT = {
    "submitted": "提交",
    "accept": "受理",
    "decline": "不予受理",
    "assign": "交办",
    "start": "开始办理",
    "reply": "答复",
    "close": "办结",
    "note": "内部备注",
    "merged": "合并",
    "split": "拆分",
    "reminder": "期限提醒",
    "warning": "超期预警",
}
STAGE = {"accept": "受理", "answer": "答复"}


def actor(name: str) -> str:
    """Who did it, as the timeline shows it: 市民, 系统, or the staff member's login name."""
    return {"citizen": "市民", "system": "系统"}.get(name, name.removeprefix("staff:"))


def label(table: dict[str, str], code: str | None) -> str:
    if code is None:
        return ""
    return table.get(code, code)


def local(moment: datetime | None, zone: ZoneInfo, *, with_year: bool = False) -> str:
    if moment is None:
        return ""
    pattern = "%Y-%m-%d %H:%M" if with_year else "%m-%d %H:%M"
    return moment.astimezone(zone).strftime(pattern)


def day(value: date | None) -> str:
    return value.isoformat() if value else ""


def waited(since: datetime, now: datetime) -> str:
    """ "12分钟", "3小时5分", "2天4小时": how long someone has been waiting, at a glance."""
    seconds = max(0, int((now - since) / timedelta(seconds=1)))
    minutes = seconds // 60
    if minutes < 1:
        return "刚刚"
    if minutes < 60:
        return f"{minutes}分钟"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}小时{minutes}分" if minutes else f"{hours}小时"
    days, hours = divmod(hours, 24)
    return f"{days}天{hours}小时" if hours else f"{days}天"
