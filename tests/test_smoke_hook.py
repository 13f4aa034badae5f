"""The smoke-test hook's handler: what ECS gets back on pass and fail, with the HTTP call faked, and real round trips
to local servers: HTTP (Host header, routing prefix, JSON body) and HTTPS (certificate name and chain checks)."""

from __future__ import annotations

import http.server
import importlib.util
import json
import ssl
import threading

import pytest
import trustme

from portkey_gateway.components.function import LAMBDAS_DIR

HANDLER_DIR = LAMBDAS_DIR / "smoke_test"

EVENT = {"executionDetails": {"serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/c/gateway",
                              "targetServiceRevisionArn": "arn:aws:ecs:us-east-1:123456789012:service-revision/c/gateway/2"}}
CHECKS = [
    {"name": "gateway health", "method": "GET", "path": "/gateway/v1/health", "host": "ai.example.com", "expected_status": 200},
    {"name": "gateway request", "method": "POST", "path": "/gateway/v1/chat/completions", "host": "ai.example.com",
     "headers": {"x-portkey-provider": "openai"}, "body": {"model": "m", "max_tokens": 1}, "expected_status": 200},
]


@pytest.fixture
def hook(monkeypatch):
    """The handler module, loaded from its file as Lambda loads it, with a config in its environment."""
    spec = importlib.util.spec_from_file_location("smoke_test_index", HANDLER_DIR / "index.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module.time, "sleep", lambda seconds: None)

    def configure(checks=CHECKS, attempts=3, port=8080, address="internal-lb.example.com", **extra):
        monkeypatch.setenv("TEST_LISTENER", address)
        monkeypatch.setenv("SMOKE_TEST", json.dumps({"scheme": "http", "port": port, "server_name": None, "timeout": 2,
                                                     "attempts": attempts, "pause": 5, "headers_secret_arn": None,
                                                     "checks": checks, **extra}))
        return module

    return configure


def test_every_check_answering_as_expected_succeeds(hook, capsys):
    calls = []
    handler = hook().handler
    result = handler(EVENT, None, send=lambda check, headers, config, attempt: calls.append((check.path, headers)) or (200, "{}"))
    assert result == {"hookStatus": "SUCCEEDED"}
    assert calls == [("/gateway/v1/health", {}), ("/gateway/v1/chat/completions", {"x-portkey-provider": "openai"})]
    log = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert log[-1] == {"failures": [], "hookStatus": "SUCCEEDED", "revision": EVENT["executionDetails"]["targetServiceRevisionArn"]}


def test_a_wrong_status_fails_the_stage_after_its_attempts(hook, capsys):
    calls = []

    def send(check, headers, config, attempt):
        calls.append(check.name)
        return (502, "upstream connect error") if check.name == "gateway request" else (200, "ok")

    result = hook(attempts=3).handler(EVENT, None, send=send)
    assert result == {"hookStatus": "FAILED"}
    assert calls == ["gateway health"] + ["gateway request"] * 3
    failures = json.loads(capsys.readouterr().out.splitlines()[-1])["failures"]
    assert failures == ["gateway request: POST /gateway/v1/chat/completions answered 502, expected 200: 'upstream connect error'"]


def test_a_check_that_recovers_within_its_attempts_passes(hook):
    answers = iter([(503, ""), (503, ""), (200, "ok")])
    result = hook(checks=CHECKS[:1]).handler(EVENT, None, send=lambda *args: next(answers))
    assert result == {"hookStatus": "SUCCEEDED"}


def test_an_unreachable_listener_fails_with_a_hint_about_the_security_group(hook, capsys):
    def send(check, headers, config, attempt):
        raise TimeoutError("timed out")

    result = hook(checks=CHECKS[:1], attempts=1).handler(EVENT, None, send=send)
    assert result == {"hookStatus": "FAILED"}
    log = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (failure,) = log[-1]["failures"]
    assert "timed out" in failure and "is port 8080 open to this function" in failure and "egress_cidrs" in failure
    assert {"attempt": 1, "check": "gateway health", "outcome": failure.split(": ", 1)[1]} in log  # logged at once


def test_an_unreadable_headers_secret_fails_the_stage_instead_of_crashing(hook, monkeypatch):
    module = hook(headers_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:h")
    monkeypatch.setattr(module, "_secret_headers", lambda arn: (_ for _ in ()).throw(ValueError("not JSON")))
    sent = []
    assert module.handler(EVENT, None, send=lambda *a: sent.append(a) or (200, "")) == {"hookStatus": "FAILED"}
    assert sent == []


def test_secret_headers_are_sent_and_override_plain_ones_but_are_never_logged(hook, monkeypatch, capsys):
    module = hook(headers_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:h")
    monkeypatch.setattr(module, "_secret_headers", lambda arn: {"x-portkey-api-key": "pk-secret", "x-portkey-provider": "azure"})
    seen = []
    assert module.handler(EVENT, None, send=lambda check, headers, config, attempt: seen.append(headers) or (200, "")) == {
        "hookStatus": "SUCCEEDED"}
    assert seen[1] == {"x-portkey-api-key": "pk-secret", "x-portkey-provider": "azure"}
    assert "pk-secret" not in capsys.readouterr().out


@pytest.mark.parametrize("value", ["pk-secret\n", "pk-secret\r\nX-Injected: 1", "pk-s€cret"])
def test_secret_header_values_http_cannot_send_fail_the_stage_without_showing_them(hook, monkeypatch, capsys, value):
    module = hook(headers_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:h")
    monkeypatch.setattr(module, "_secret_headers", lambda arn: module.checked_headers({"x-portkey-api-key": value}))
    assert module.handler(EVENT, None, send=lambda *args: (200, "")) == {"hookStatus": "FAILED"}
    out = capsys.readouterr().out
    assert "the value of x-portkey-api-key must be one line" in out and "pk-s" not in out


def test_a_header_http_client_refuses_is_reported_without_its_value(hook, monkeypatch, capsys):
    """Whatever slips through: http.client's own error would quote the value, so it is not shown."""
    module = hook(checks=CHECKS[:1], attempts=1, address="127.0.0.1", port=9)
    monkeypatch.setattr(module, "_secret_headers", lambda arn: {"x-portkey-api-key": "pk-secret\n"})
    module.handler(EVENT, None)  # the real _send: http.client raises ValueError on the header
    out = capsys.readouterr().out
    assert "a header name or value is invalid" in out and "pk-secret" not in out


def test_each_attempt_tries_the_next_address_of_the_balancer(hook, monkeypatch):
    tried = []

    class Connection:
        def __init__(self, address, port, timeout):
            self.address = address

        def request(self, *args, **kwargs):
            tried.append(self.address)
            if self.address == "10.0.1.10":
                raise TimeoutError("timed out")

        def getresponse(self):
            return type("Response", (), {"status": 200, "read": lambda self, n: b"ok"})()

        def close(self):
            pass

    module = hook(checks=CHECKS[:1], attempts=3)
    addresses = [(2, 1, 6, "", ("10.0.1.10", 8080)), (2, 1, 6, "", ("10.0.2.10", 8080))]
    monkeypatch.setattr(module.socket, "getaddrinfo", lambda *args, **kwargs: addresses)
    monkeypatch.setattr(module.http.client, "HTTPConnection", Connection)
    assert module.handler(EVENT, None) == {"hookStatus": "SUCCEEDED"}
    assert tried == ["10.0.1.10", "10.0.2.10"]  # one address per attempt, not the timeout once per address


def test_it_stops_retrying_while_there_is_time_to_answer(hook, monkeypatch):
    clock = [0.0]
    module = hook(checks=CHECKS[:1], attempts=5)
    monkeypatch.setattr(module.time, "monotonic", lambda: clock[0])

    def send(check, headers, config, attempt):
        clock[0] += 2  # each attempt times out after the configured 2 s
        raise TimeoutError("timed out")

    context = type("Context", (), {"get_remaining_time_in_millis": lambda self: 10_000})()
    result = module.handler(EVENT, context, send=send)  # 10 s left, 5 kept to answer: two 2 s attempts fit
    assert result == {"hookStatus": "FAILED"}
    assert clock[0] == 4


def test_the_real_http_call_sends_host_path_and_json_body(hook):
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            received.append((self.command, self.path, self.headers["Host"], self.headers.get("Content-Type"),
                             self.rfile.read(length).decode()))
            status = 200 if self.headers["Host"] == "ai.example.com" else 404
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        module = hook(port=server.server_address[1], address="127.0.0.1")
        assert module.handler(EVENT, None) == {"hookStatus": "SUCCEEDED"}
        wrong_host = [{**CHECKS[0], "host": "other.example.com"}]
        assert hook(checks=wrong_host, attempts=1, port=server.server_address[1], address="127.0.0.1").handler(
            EVENT, None) == {"hookStatus": "FAILED"}
    finally:
        server.shutdown()
    assert received[0][:3] == ("GET", "/gateway/v1/health", "ai.example.com")
    method, path, host, content_type, body = received[1]
    assert (method, path, host, content_type) == ("POST", "/gateway/v1/chat/completions", "ai.example.com", "application/json")
    assert json.loads(body) == {"model": "m", "max_tokens": 1}


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def tls_listener(monkeypatch):
    """A local HTTPS server whose certificate names ai.example.com, from a test CA the handler is made to trust."""
    ca = trustme.CA()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("ai.example.com").configure_cert(server_context)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server.server_address[1], ca
    server.shutdown()


@pytest.mark.parametrize("server_name,host,trusted,status", [
    (None, "ai.example.com", True, "SUCCEEDED"),                 # the routing host is the TLS name
    ("other.example.com", "ai.example.com", True, "SUCCEEDED"),  # ... and wins over the domain-wide name
    ("ai.example.com", None, True, "SUCCEEDED"),                 # no routing host (NLB): the custom domain's name
    (None, None, True, "SUCCEEDED"),                             # no known name: the chain is still verified
    ("other.example.com", None, True, "FAILED"),                 # a certificate for another name is refused
    (None, "other.example.com", True, "FAILED"),
    ("ai.example.com", "ai.example.com", False, "FAILED"),       # an untrusted chain is refused
])
def test_tls_verifies_the_certificate_for_the_name_clients_use(hook, monkeypatch, tls_listener, server_name, host,
                                                               trusted, status):
    port, ca = tls_listener
    module = hook(checks=[{"name": "health", "path": "/v1/health", "host": host}], attempts=1, port=port,
                  address="127.0.0.1", scheme="https", server_name=server_name)
    create = ssl.create_default_context

    def test_trust(*args, **kwargs):
        context = create(*args, **kwargs)
        if trusted:
            ca.configure_trust(context)
        return context

    monkeypatch.setattr(module.ssl, "create_default_context", test_trust)
    assert module.handler(EVENT, None) == {"hookStatus": status}
