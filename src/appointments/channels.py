"""The channels that reach people: e-mail through SES v2 and SMS through SNS. The only code that calls them.

A failed send raises ``ChannelFailed`` with the channel and AWS's error code only: SES and SNS name the
address in their error messages, and an address must never reach a log line (the Lambda runtime logs an
uncaught exception's message), so the original error is not chained.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from appointments.messages import Message

EMAIL_CHANNEL, SMS_CHANNEL = "email", "sms"


class ChannelFailed(Exception):
    def __init__(self, channel: str, code: str):
        super().__init__(f"the {channel} send failed: {code}")
        self.channel, self.code = channel, code


def _code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code", "ClientError")
    return type(error).__name__


class EmailChannel:
    """SES v2 ``SendEmail`` from the stack's sender identity, through its configuration set (bounces and
    complaints feed the suppression list). No sender: e-mail is off."""

    def __init__(self, sesv2, sender: str, configuration_set: str):
        self.sesv2 = sesv2
        self.sender = sender
        self.configuration_set = configuration_set

    @property
    def enabled(self) -> bool:
        return bool(self.sender)

    def unsubscribe(self, link: str | None = None) -> str:
        """RFC 2369: the recipient's manage link (API.md), then a reply to the sender asking to stop, which is
        what stops the messages (the manage page cancels and moves appointments; it keeps no subscription)."""
        mailto = f"<mailto:{self.sender}?subject=unsubscribe>"
        return f"<{link}>, {mailto}" if link else mailto

    def send(self, address: str, message: Message) -> str:
        request = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": [address]},
            "Content": {"Simple": {
                "Subject": {"Data": message.subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": message.text, "Charset": "UTF-8"},
                         "Html": {"Data": message.html, "Charset": "UTF-8"}},
                "Headers": [{"Name": "List-Unsubscribe", "Value": self.unsubscribe(message.link)}],
            }},
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        try:
            return self.sesv2.send_email(**request)["MessageId"]
        except (ClientError, BotoCoreError) as error:
            raise ChannelFailed(EMAIL_CHANNEL, _code(error)) from None


class SmsChannel:
    """SNS ``Publish`` to a phone number, as transactional SMS (routed for reliable delivery rather than the
    lowest cost, as appointment messages need)."""

    enabled = True

    def __init__(self, sns):
        self.sns = sns

    def send(self, address: str, message: Message) -> str:
        try:
            return self.sns.publish(PhoneNumber=address, Message=message.sms, MessageAttributes={
                "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}})["MessageId"]
        except (ClientError, BotoCoreError) as error:
            raise ChannelFailed(SMS_CHANNEL, _code(error)) from None
