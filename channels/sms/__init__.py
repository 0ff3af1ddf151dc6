"""SMS through Twilio: signed webhooks answered with TwiML, outbox messages with delivery reports, and
the STOP / START / HELP words every SMS number must honour."""

from channels.sms.channel import SmsChannel

__all__ = ["SmsChannel"]
