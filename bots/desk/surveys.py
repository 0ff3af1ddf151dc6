"""Satisfaction survey campaigns from the desk: the same upload and rules as `sunshine survey send`.

A supervisor uploads the day's service records (CSV or XLSX); each row becomes one survey SMS, with
opt-outs, quiet hours and pacing applied exactly as on the command line. "Check only" plans the run
without writing anything, so a wrong file costs nothing.
"""

from __future__ import annotations

from aiohttp import web

from bots.desk.context import desk, source, viewer
from bots.desk.render import render
from bots.desk.security import guard
from bots.survey_import import SurveyFileError, read_survey_bytes
from bots.surveys import CampaignTarget, run_campaign
from core import audit
from core.surveys import Outcome

OUTCOME_LABELS = {
    Outcome.QUEUED: "已排队发送",
    Outcome.DEFERRED: "安静时段后发送",
    Outcome.OPTED_OUT: "已退订，未发送",
    Outcome.DUPLICATE: "此前已发过，未重复发送",
    Outcome.INVALID: "有误，未发送",
}


def routes() -> list[web.RouteDef]:
    return [
        web.get("/surveys", surveys_page, name="surveys"),
        web.post("/surveys", send_surveys),
    ]


def _survey_bots(request: web.Request) -> list[str]:
    """Bots that can send a survey: the answer comes back on SMS, so the bot must listen there."""
    deployment = desk(request).deployment
    return [bot_id for bot_id, channels in deployment.bot_channels.items() if "sms" in channels]


@guard("supervisor")
async def surveys_page(request: web.Request) -> web.StreamResponse:
    context = {
        "bots": _survey_bots(request),
        "summary": None,
        "labels": OUTCOME_LABELS,
        "dry_run": True,
        "error": None,
    }
    return await render(request, "surveys.html", context)


@guard("supervisor")
async def send_surveys(request: web.Request) -> web.StreamResponse:
    context = desk(request)
    deployment = context.deployment
    form = await request.post()
    upload = form.get("file")
    bots = _survey_bots(request)
    bot_id = form.get("bot") if form.get("bot") in bots else (bots[0] if bots else None)
    dry_run = form.get("dry_run") == "1"
    error = None
    summary = None
    if bot_id is None:
        error = "没有配置短信渠道的机器人，不能发送满意度短信。"
    elif not isinstance(upload, web.FileField):
        error = "请选择要上传的 CSV 或 XLSX 文件。"
    else:
        name = upload.filename or "upload"
        try:
            rows = read_survey_bytes(upload.file.read(), name)
        except SurveyFileError as exc:
            error = str(exc)
        else:
            profile = deployment.services.profiles[bot_id]
            capabilities = deployment.capabilities.get("sms")
            target = CampaignTarget(
                bot_id=bot_id,
                channel="sms",
                language=profile.default_language,
                concise=bool(capabilities and capabilities.concise),
                departments=tuple(profile.departments),
            )
            me = viewer(request)
            summary = await run_campaign(
                deployment.services, rows, target, source=name, actor=f"staff:{me.username}", dry_run=dry_run
            )
            if not dry_run:
                async with context.transaction() as b:
                    await audit.record(
                        b,
                        actor=me.username,
                        action="survey.send",
                        target_type="campaign",
                        target_id=None,
                        detail={"file": name[:120], "rows": summary.rows},
                        source=source(request),
                    )
                deployment.dispatcher.wake()
    return await render(
        request,
        "surveys.html",
        {
            "bots": bots,
            "summary": summary,
            "dry_run": dry_run,
            "error": error,
            "labels": OUTCOME_LABELS,
        },
        status=400 if error else 200,
    )
