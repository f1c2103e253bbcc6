"""E-mail over SMTP with STARTTLS required (`SPOEDPLEIN_SMTP_URL=smtp://user:pass@host:587`).

A server that does not offer STARTTLS, or whose certificate does not verify (against the system's CAs
or `SPOEDPLEIN_SMTP_CA_FILE`), gets nothing: FAILED, never a fall back to clear text. A refused
recipient or a 5xx is FAILED; no connection, a timeout or a 4xx is RETRY. The Message-ID carries the
attempt's reference, so a resend after a crash is recognisable as the same message. A mail handed to the
server is SENT (SMTP gives no delivery report we could wait for).

`file:///dir` writes each message as an .eml file into the directory instead (the sample roster's default).
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from urllib.parse import unquote, urlsplit

from notifications.channels.base import OutboundMessage, Outcome, SendResult
from notifications.roster import ChannelName


def build_email(message: OutboundMessage, sender: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.address
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = f"<{message.reference}@spoedplein>"
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(message.text)
    for attachment in message.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        mail.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return mail


class SmtpChannel:
    name = ChannelName.EMAIL

    def __init__(
        self, url: str, *, sender: str, ca_file: Path | None = None, timeout_s: float = 15.0
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "smtp" or not parts.hostname:
            raise ValueError("SPOEDPLEIN_SMTP_URL must look like smtp://user:pass@host:587")
        self.host = parts.hostname
        self.port = parts.port or 587
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender
        self.timeout_s = timeout_s
        self.context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)

    def send(self, message: OutboundMessage) -> SendResult:
        mail = build_email(message, self.sender)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    return SendResult(Outcome.FAILED, "the SMTP server offers no STARTTLS; nothing sent")
                smtp.starttls(context=self.context)
                smtp.ehlo()
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused:
            return SendResult(Outcome.FAILED, "the SMTP server refused the recipient")
        except smtplib.SMTPAuthenticationError:
            return SendResult(Outcome.FAILED, "the SMTP server refused the login")
        except smtplib.SMTPResponseException as exc:
            outcome = Outcome.RETRY if 400 <= exc.smtp_code < 500 else Outcome.FAILED
            return SendResult(outcome, f"the SMTP server answered {exc.smtp_code}")
        except ssl.SSLError as exc:
            return SendResult(Outcome.FAILED, f"STARTTLS failed ({type(exc).__name__}); nothing sent")
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            return SendResult(Outcome.RETRY, f"no SMTP delivery ({type(exc).__name__})")
        return SendResult(Outcome.SENT, "handed to the SMTP server")


class FileEmailChannel:
    """Writes each message as `<reference>.eml` into a directory instead of sending it."""

    name = ChannelName.EMAIL

    def __init__(self, directory: Path, *, sender: str) -> None:
        self.directory = directory
        self.sender = sender

    def send(self, message: OutboundMessage) -> SendResult:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{message.reference}.eml"
        path.write_bytes(bytes(build_email(message, self.sender)))
        return SendResult(Outcome.SENT, f"written to {path.name}")
