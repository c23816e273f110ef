"""The three ways a message leaves: SMTP, a robot webhook, a command. Each either returns
(the other side accepted the message) or raises DeliveryFailed with what went wrong.

Secrets come from the environment variables the channel names, read when sending; they are
never printed (errors name the variable, not its value).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import urllib.parse

from crmpool.channels import Channel
from crmpool.notify.digest import markdown

TIMEOUT = 30  # seconds, unless the channel says otherwise


class DeliveryFailed(Exception):
    """The message did not go; the text says why (kept in the outbox, shown by notify list)."""


def _secret(channel: Channel, key: str) -> str | None:
    name = channel.settings.get(key)
    if not name:
        return None
    value = os.environ.get(name)
    if not value:
        raise DeliveryFailed(f"environment variable {name} ({key}) is not set")
    return value


def send(channel: Channel, message: dict) -> None:
    """Send one outbox row (subject, body, html, payload, address) through `channel`."""
    {"smtp": _smtp, "webhook": _webhook, "command": _command}[channel.type](channel, message)


def _smtp(channel: Channel, message: dict) -> None:
    import smtplib
    import ssl
    from email.message import EmailMessage
    from email.utils import formataddr

    settings = channel.settings
    mail = EmailMessage()  # the default policy writes UTF-8 headers (RFC 2047) for 中文
    mail["Subject"] = message["subject"]
    mail["From"] = settings["from"]
    mail["To"] = formataddr((message.get("display") or message["recipient"],
                             message["address"]))
    mail.set_content(message["body"])
    if message.get("html"):
        mail.add_alternative(message["html"], subtype="html")
    host, port = settings["host"], settings.get("port", 25)
    security = settings.get("security", "none")
    timeout = settings.get("timeout", TIMEOUT)
    try:
        # The server's certificate is checked, against the system's CAs or `cafile` (a
        # company's own CA): a password never goes to a server that cannot prove its name.
        context = ssl.create_default_context(cafile=settings.get("cafile"))
        if security == "ssl":
            server = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            server = smtplib.SMTP(host, port, timeout=timeout)
        with server:
            if security == "starttls":
                server.starttls(context=context)
            if settings.get("user"):
                _login(server, settings["user"], _secret(channel, "password_env") or "")
            refused = server.send_message(mail)
    except smtplib.SMTPResponseException as exc:
        detail = exc.smtp_error.decode("utf-8", "replace") if isinstance(
            exc.smtp_error, bytes) else str(exc.smtp_error)
        raise DeliveryFailed(f"SMTP {exc.smtp_code}: {detail}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryFailed(f"SMTP refused {', '.join(exc.recipients)}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"SMTP {host}:{port}: {exc}") from None
    if refused:
        raise DeliveryFailed(f"SMTP refused {', '.join(refused)}")


def _login(server, user: str, password: str) -> None:
    # PLAIN when offered, and only it: smtplib.login would try a wrong password again with
    # every other method the server names (and some servers hang on the second try).
    server.ehlo_or_helo_if_needed()
    methods = server.esmtp_features.get("auth", "").upper().split()
    if "PLAIN" in methods:
        server.user, server.password = user, password
        server.auth("PLAIN", server.auth_plain)
    else:
        server.login(user, password)


def _signed_url(channel: Channel, url: str) -> str:
    # DingTalk: timestamp in ms and an HMAC-SHA256 of "timestamp\nsecret" keyed by the secret.
    secret = _secret(channel, "secret_env")
    if not secret:
        return url
    stamp = str(round(time.time() * 1000))
    digest = hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    return f"{url}{'&' if '?' in url else '?'}timestamp={stamp}&sign={sign}"


def webhook_body(channel: Channel, message: dict) -> dict:
    """The JSON each robot expects (Markdown where it has one)."""
    payload = json.loads(message["payload"])
    text = markdown(payload)
    style = channel.settings.get("style", "generic")
    if style == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": text}}
    if style == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": message["subject"], "text": text}}
    if style == "feishu":
        body: dict = {"msg_type": "interactive", "card": {
            "header": {"title": {"tag": "plain_text", "content": message["subject"]}},
            "elements": [{"tag": "markdown", "content": text}]}}
        secret = _secret(channel, "secret_env")
        if secret:
            # Feishu: seconds, and an HMAC-SHA256 of nothing keyed by "timestamp\nsecret".
            stamp = str(int(time.time()))
            key = f"{stamp}\n{secret}".encode()
            body = {"timestamp": stamp, "sign": base64.b64encode(
                hmac.new(key, b"", hashlib.sha256).digest()).decode(), **body}
        return body
    if style == "slack":
        return {"text": message["subject"],
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
    return {"subject": message["subject"], "text": message["body"], "data": payload}


def _webhook(channel: Channel, message: dict) -> None:
    import urllib.error
    import urllib.request

    url = channel.settings["url"]
    if channel.settings.get("style") == "dingtalk":
        url = _signed_url(channel, url)
    data = json.dumps(webhook_body(channel, message), ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=channel.settings.get("timeout", TIMEOUT)
                                    ) as response:
            answer = response.read(1 << 16).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(f"HTTP {exc.code} from the webhook") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryFailed(f"webhook unreachable: {reason}") from None
    _check_answer(channel.settings.get("style", "generic"), answer)


def _check_answer(style: str, answer: str) -> None:
    """Robots report errors inside a 200: WeCom and DingTalk `errcode`, Feishu `code`,
    Slack a body other than `ok`."""
    if style == "slack":
        if answer.strip() != "ok":
            raise DeliveryFailed(f"slack answered {answer.strip()[:200]!r}")
        return
    try:
        data = json.loads(answer) if answer.strip() else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        return
    for key in ("errcode", "code", "StatusCode"):
        if data.get(key) not in (None, 0):
            text = data.get("errmsg") or data.get("msg") or data.get("StatusMessage") or ""
            raise DeliveryFailed(f"webhook answered {key} {data[key]}: {text}"[:300])


def _command(channel: Channel, message: dict) -> None:
    import subprocess

    timeout = channel.settings.get("timeout", TIMEOUT)
    body = {"subject": message["subject"], "text": message["body"],
            "recipient": message["recipient"] or None, "address": message["address"],
            "data": json.loads(message["payload"])}
    try:
        done = subprocess.run(channel.settings["argv"], input=json.dumps(body, ensure_ascii=False),
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise DeliveryFailed(f"command timed out after {timeout} s") from None
    except OSError as exc:
        raise DeliveryFailed(f"command could not start: {exc.strerror}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-300:]
        raise DeliveryFailed(f"command exited {done.returncode}: {tail}")
