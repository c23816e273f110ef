"""Notifications reach people through real servers on 127.0.0.1: an SMTP server (aiosmtpd),
an HTTP server for the robot webhooks, and a real command; the outbox sends each message once,
retries failures, and a second sweep the same day sends nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import threading
import urllib.parse
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import NOW, add_customers, free_port

from crmpool import store
from crmpool.ruleset import set_rules
from crmpool.when import stored

IDLE_WARN = '[[warn]]\nname = "quiet"\nidle_days = 10\n'


def days_ago(n: float) -> str:
    return stored(NOW - timedelta(days=n))


def use_rules(conn, users, text: str) -> None:
    with store.transaction(conn):
        set_rules(conn, users["boss"], text, "test.toml", NOW)


@pytest.fixture
def hooks():
    """A real HTTP server for webhooks; `replies` are the bodies to answer with, in order."""
    state = {"requests": [], "replies": []}

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            length = int(self.headers["Content-Length"])
            body = json.loads(self.rfile.read(length))
            state["requests"].append((self.path, body))
            reply = state["replies"].pop(0) if state["replies"] else '{"errcode": 0}'
            data = reply.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()


def idle_customers(conn, owner: str = "li") -> list[int]:
    return add_customers(conn, [{"name": "北京星辰科技有限公司", "owner": owner,
                                 "assigned_at": days_ago(40), "last_contact_at": days_ago(12)}])


def test_each_recipient_gets_one_digest_and_a_second_sweep_sends_nothing(cli, conn, users, smtp):
    use_rules(conn, users, f'[[channel]]\nname = "mail"\ntype = "smtp"\nhost = "127.0.0.1"\n'
                           f'port = {smtp.port}\nfrom = "crm@example.cn"\n{IDLE_WARN}')
    for name, address in (("li", "li@example.cn"), ("wang", "wang@example.cn")):
        assert cli("user", "set", name, "--email", address).exit_code == 0
    idle_customers(conn)
    result = cli("sweep")
    assert result.exit_code == 0, result.stderr
    assert "notified: 2 sent, 0 failed" in result.stderr
    assert sorted(to for to, _ in smtp.received) == [["li@example.cn"], ["wang@example.cn"]]
    mail = smtp.received[0][1]
    assert "1 warning" in mail["Subject"]
    body = mail.get_body(("plain",)).get_content()
    assert "北京星辰科技有限公司" in body and "no contact for 10 days" in body
    assert "北京星辰科技有限公司" in mail.get_body(("html",)).get_content()
    cli.now = stored(NOW + timedelta(hours=2))
    assert cli("sweep").exit_code == 0
    assert len(smtp.received) == 2  # the same episode, the same day: nothing new
    assert [n["status"] for n in cli.rows("notify", "list")] == ["sent", "sent"]


def test_a_refusing_server_gets_the_message_again_and_one_copy_arrives(cli, conn, users, smtp):
    use_rules(conn, users, f'[[channel]]\nname = "mail"\ntype = "smtp"\nhost = "127.0.0.1"\n'
                           f'port = {smtp.port}\nfrom = "crm@example.cn"\n'
                           'to = { mid = ["owner"] }\n' + IDLE_WARN)
    assert cli("user", "set", "li", "--email", "li@example.cn").exit_code == 0
    idle_customers(conn)
    smtp.answers = ["554 5.7.1 not now"]
    result = cli("sweep")
    assert result.exit_code == 0 and "1 failed" in result.stderr
    assert smtp.received == []
    [waiting] = cli.rows("notify", "list", "--failed")
    assert waiting["status"] == "pending" and "554" in waiting["last_error"]
    assert cli("notify").exit_code == 0  # backing off: not yet
    assert smtp.received == []
    cli.now = stored(NOW + timedelta(minutes=6))
    assert cli("notify", "--dry-run", "-f", "jsonl").stdout.count('"mail"') == 1
    result = cli("notify")
    assert result.exit_code == 0, result.stderr
    assert len(smtp.received) == 1
    assert cli("notify").exit_code == 0 and len(smtp.received) == 1


def test_robots_get_their_own_shapes_and_signatures(cli, conn, users, hooks, monkeypatch):
    monkeypatch.setenv("DING_SECRET", "SECdingding")
    monkeypatch.setenv("FEISHU_SECRET", "feishu-secret")
    url = hooks["url"]
    use_rules(conn, users, f'''
[[channel]]
name = "ding"
type = "webhook"
url = "{url}/robot/send?access_token=t"
style = "dingtalk"
secret_env = "DING_SECRET"
[[channel]]
name = "lark"
type = "webhook"
url = "{url}/feishu"
style = "feishu"
secret_env = "FEISHU_SECRET"
[[channel]]
name = "wecom"
type = "webhook"
url = "{url}/wecom"
style = "wecom"
[[channel]]
name = "slack"
type = "webhook"
url = "{url}/slack"
style = "slack"
{IDLE_WARN}''')
    idle_customers(conn)
    hooks["replies"] = ['{"errcode": 0}', '{"code": 0}', '{"errcode": 0}', "ok"]
    result = cli("sweep")
    assert result.exit_code == 0, result.stderr
    by_path = {urllib.parse.urlsplit(path).path: (path, body)
               for path, body in hooks["requests"]}
    ding_path, ding = by_path["/robot/send"]
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(ding_path).query))
    expected = base64.b64encode(hmac.new(b"SECdingding",
                                         f"{query['timestamp']}\nSECdingding".encode(),
                                         hashlib.sha256).digest()).decode()
    assert query["sign"] == expected and query["access_token"] == "t"
    assert ding["msgtype"] == "markdown" and "北京星辰科技有限公司" in ding["markdown"]["text"]
    _, lark = by_path["/feishu"]
    key = f"{lark['timestamp']}\nfeishu-secret".encode()
    assert lark["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert lark["card"]["elements"][0]["tag"] == "markdown"
    assert by_path["/wecom"][1]["msgtype"] == "markdown"
    assert by_path["/slack"][1]["blocks"][0]["text"]["type"] == "mrkdwn"


def test_an_error_inside_a_200_is_a_failure_and_is_retried(cli, conn, users, hooks):
    use_rules(conn, users, f'[[channel]]\nname = "wecom"\ntype = "webhook"\n'
                           f'url = "{hooks["url"]}/wecom"\nstyle = "wecom"\n{IDLE_WARN}')
    idle_customers(conn)
    hooks["replies"] = ['{"errcode": 93000, "errmsg": "invalid webhook url"}']
    result = cli("sweep")
    assert "errcode 93000" in result.stderr
    [row] = cli.rows("notify", "list")
    assert row["status"] == "pending" and row["attempts"] == 1
    cli.now = stored(NOW + timedelta(minutes=6))
    assert cli("notify").exit_code == 0
    assert len(hooks["requests"]) == 2
    assert cli.rows("notify", "list")[0]["status"] == "sent"


def test_a_command_gets_the_json_and_its_failures_are_recorded(cli, conn, users, tmp_path):
    out = tmp_path / "got.json"
    script = f"import sys, pathlib; pathlib.Path({str(out)!r}).write_text(sys.stdin.read())"
    use_rules(conn, users, f'[[channel]]\nname = "sms"\ntype = "command"\n'
                           f'argv = [{json.dumps(sys.executable)}, "-c", {json.dumps(script)}]\n'
                           f'{IDLE_WARN}')
    idle_customers(conn)
    assert cli("sweep").exit_code == 0
    got = json.loads(out.read_text())
    assert got["data"]["people"][0]["items"][0]["name"] == "北京星辰科技有限公司"
    # A failing command and one that hangs: recorded, not fatal to the sweep.
    for argv, error in (([sys.executable, "-c", "import sys; sys.exit(3)"], "exited 3"),
                        ([sys.executable, "-c", "import time; time.sleep(30)"], "timed out")):
        use_rules(conn, users, f'[[channel]]\nname = "sms"\ntype = "command"\ntimeout = 1\n'
                               f'argv = {json.dumps(argv)}\n{IDLE_WARN}')
        idle_customers(conn)
        cli.now = stored(NOW + timedelta(days=len(error)))
        result = cli("sweep")
        assert result.exit_code == 0 and error in result.stderr, result.stderr
        assert error in cli.rows("notify", "list", "--failed")[0]["last_error"]


def test_notify_test_and_no_notify(cli, conn, users, smtp):
    use_rules(conn, users, f'[[channel]]\nname = "mail"\ntype = "smtp"\nhost = "127.0.0.1"\n'
                           f'port = {smtp.port}\nfrom = "crm@example.cn"\n{IDLE_WARN}')
    assert cli("notify", "test", "mail").exit_code == 2  # boss has no e-mail
    result = cli("notify", "test", "mail", "--to", "boss@example.cn")
    assert result.exit_code == 0, result.stderr
    assert smtp.received[0][0] == ["boss@example.cn"]
    assert "测试" in smtp.received[0][1]["Subject"]
    assert cli("notify", "test", "nope").exit_code == 2
    assert cli("user", "set", "li", "--email", "li@example.cn").exit_code == 0
    idle_customers(conn)
    assert cli("sweep", "--no-notify").exit_code == 0
    assert len(smtp.received) == 1
    assert [n["status"] for n in cli.rows("notify", "list")] == ["pending"]
    assert cli("notify").exit_code == 0 and len(smtp.received) == 2


def test_a_killed_sweep_leaves_no_message(cli, conn, users, monkeypatch):
    from crmpool.notify import outbox

    use_rules(conn, users, '[[channel]]\nname = "c"\ntype = "command"\nargv = ["true"]\n'
                           + IDLE_WARN)
    idle_customers(conn)

    def boom(*args, **kwargs):
        raise RuntimeError("killed")

    real = outbox.fill

    def fill_then_die(*args, **kwargs):
        real(*args, **kwargs)
        boom()

    monkeypatch.setattr(outbox, "fill", fill_then_die)
    assert cli("sweep").exit_code == 1
    assert conn.execute("SELECT count(*) FROM notifications").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM warnings").fetchone()[0] == 0


def test_smtp_login_takes_the_password_from_the_environment(cli, conn, users, monkeypatch):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    seen = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            seen.append(envelope.rcpt_tos)
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login, auth_data.password) == (b"crm", b"s3cret")
        return AuthResult(success=ok, handled=False)

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port,
                            authenticator=authenticator, auth_require_tls=False)
    controller.start()
    try:
        use_rules(conn, users, f'[[channel]]\nname = "mail"\ntype = "smtp"\n'
                               f'host = "127.0.0.1"\nport = {port}\nfrom = "crm@example.cn"\n'
                               f'user = "crm"\npassword_env = "CRM_TEST_SMTP"\n{IDLE_WARN}')
        result = cli("notify", "test", "mail", "--to", "a@example.cn")
        assert result.exit_code == 5 and "CRM_TEST_SMTP" in result.stderr
        assert "s3cret" not in result.stderr
        monkeypatch.setenv("CRM_TEST_SMTP", "wrong")
        result = cli("notify", "test", "mail", "--to", "a@example.cn")
        assert result.exit_code == 5 and "535" in result.stderr and seen == []
        monkeypatch.setenv("CRM_TEST_SMTP", "s3cret")
        assert cli("notify", "test", "mail", "--to", "a@example.cn").exit_code == 0
        assert seen == [["a@example.cn"]]
    finally:
        controller.stop()


def test_an_acked_warning_is_not_notified_when_it_rises(cli, conn, users, hooks):
    use_rules(conn, users, f'[[channel]]\nname = "hook"\ntype = "webhook"\n'
                           f'url = "{hooks["url"]}/x"\n'
                           '[[reclaim]]\nname = "idle"\nidle_days = 30\nwarn_days = 5\n')
    add_customers(conn, [{"name": "要回收", "owner": "li", "assigned_at": days_ago(26)}])
    assert cli("sweep").exit_code == 0
    assert len(hooks["requests"]) == 1
    [warning] = cli.rows("warnings", "--mine", as_user="li")
    assert cli("warnings", "ack", str(warning["id"]), as_user="li").exit_code == 0
    cli.now = stored(NOW + timedelta(days=3, hours=1))
    assert cli("sweep").exit_code == 0
    assert cli.rows("warnings", "--mine", as_user="li")[0]["level"] == "high"
    assert len(hooks["requests"]) == 1  # risen, but acked: nobody is told again


CERTS = __import__("pathlib").Path(__file__).parent / "data"


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_smtp_over_tls_checks_the_servers_certificate(cli, conn, users, security):
    import ssl

    from aiosmtpd.controller import Controller

    seen = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            encrypted = (session.ssl is not None  # after STARTTLS
                         or server.transport.get_extra_info("ssl_object") is not None)
            seen.append((envelope.rcpt_tos, encrypted))
            return "250 OK"

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(CERTS / "smtp-test.crt", CERTS / "smtp-test.key")
    port = free_port()
    tls = ({"tls_context": context, "require_starttls": True} if security == "starttls"
           else {"ssl_context": context})
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, **tls)
    controller.start()
    try:
        channel = (f'[[channel]]\nname = "mail"\ntype = "smtp"\nhost = "127.0.0.1"\n'
                   f'port = {port}\nsecurity = "{security}"\nfrom = "crm@example.cn"\n')
        use_rules(conn, users, channel + IDLE_WARN)
        refused = cli("notify", "test", "mail", "--to", "a@example.cn")
        assert refused.exit_code == 5 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr
        assert seen == []
        use_rules(conn, users, channel + f'cafile = "{CERTS / "smtp-test.crt"}"\n' + IDLE_WARN)
        result = cli("notify", "test", "mail", "--to", "a@example.cn")
        assert result.exit_code == 0, result.stderr
        assert seen == [(["a@example.cn"], True)]
    finally:
        controller.stop()


def test_a_digest_lists_a_hundred_of_each_kind_and_counts_the_rest(cli, conn, users, hooks):
    use_rules(conn, users, f'[[channel]]\nname = "hook"\ntype = "webhook"\n'
                           f'url = "{hooks["url"]}/x"\nto = {{ mid = ["owner"] }}\n{IDLE_WARN}')
    add_customers(conn, [{"name": f"客户{i}", "owner": "li", "assigned_at": days_ago(40),
                          "last_contact_at": days_ago(12)} for i in range(130)])
    assert cli("sweep").exit_code == 0
    [(_, body)] = hooks["requests"]
    assert body["text"].count("no contact for 10 days") == 100
    assert "… and 30 more (crmpool warnings --mine)" in body["text"]
    assert body["data"]["people"][0]["count"] == 130


def test_an_undone_run_sends_nothing_it_had_not_sent(cli, conn, users, hooks):
    use_rules(conn, users, f'[[channel]]\nname = "hook"\ntype = "webhook"\n'
                           f'url = "{hooks["url"]}/x"\n{IDLE_WARN}')
    idle_customers(conn)
    assert cli("sweep", "--no-notify").exit_code == 0
    [waiting] = cli.rows("notify", "list")
    assert waiting["status"] == "pending"
    assert cli("sweep", "--undo", str(waiting["run_id"])).exit_code == 0
    assert cli.rows("notify", "list") == []
    assert cli("notify").exit_code == 0 and hooks["requests"] == []
    # The next run finds the warning again and tells it once.
    cli.now = stored(NOW + timedelta(hours=1))
    assert cli("sweep").exit_code == 0
    assert len(hooks["requests"]) == 1
