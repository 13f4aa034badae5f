"""ECS deployment lifecycle hook: smoke-test the new gateway revision through the load balancer's test listener.

ECS calls this at the configured stages of a blue/green, canary or linear deployment. From POST_TEST_TRAFFIC_SHIFT on,
the test listener routes to the new revision only, so every check here exercises the new tasks through the real load
balancer (TLS, routing rules, path rewrite). Any failed check answers FAILED and ECS rolls the deployment back before
(more) production traffic reaches the new revision.

Configuration comes from the environment, written by the CDK construct:
  TEST_LISTENER  the load balancer's DNS name
  SMOKE_TEST     JSON: {"scheme", "port", "server_name", "timeout", "attempts", "pause", "headers_secret_arn",
                        "checks": [{"name", "method", "path", "host", "headers", "body", "expected_status"}]}

Standard library only (plus boto3, present in the Lambda runtime, when a headers secret is configured).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import ssl
import time

BODY_SNIPPET = 300  # characters of an unexpected response kept in the log
ANSWER_MARGIN_SECONDS = 5  # time kept to log and answer ECS before Lambda's timeout
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")  # an HTTP token


class Check:
    """One request and the status the new revision must answer it with."""

    def __init__(self, spec: dict):
        self.name = spec["name"]
        self.method = spec.get("method", "GET")
        self.path = spec["path"]
        self.host = spec.get("host")
        self.headers = dict(spec.get("headers") or {})
        self.body = spec.get("body")
        self.expected_status = spec.get("expected_status", 200)


def handler(event, context, send=None):
    """The Lambda entry point. `send(check, headers, config, attempt) -> (status, body)` is replaceable for tests."""
    config = json.loads(os.environ["SMOKE_TEST"])
    send = send or _send
    # Stop retrying while there is still time to answer: a killed function tells ECS (and the log reader) nothing.
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - ANSWER_MARGIN_SECONDS if context else None
    _log(event=event)  # ARNs and traffic weights only; records what ECS sent for whoever reads the log
    details = event.get("executionDetails") or {}
    revision = details.get("targetServiceRevisionArn", "unknown revision")
    try:
        secret_headers = _secret_headers(config.get("headers_secret_arn"))
    except Exception as error:  # a missing or malformed secret is a failed check, not a crashed hook
        return _answer(revision, [f"headers secret: {error}"])
    failures = []
    for spec in config["checks"]:
        check = Check(spec)
        outcome = _run(check, {**check.headers, **secret_headers}, config, send, deadline)
        _log(check=check.name, revision=revision, outcome=outcome or "ok")
        if outcome:
            failures.append(f"{check.name}: {outcome}")
    return _answer(revision, failures)


def _answer(revision: str, failures: list[str]) -> dict:
    status = "FAILED" if failures else "SUCCEEDED"
    _log(hookStatus=status, revision=revision, failures=failures)
    return {"hookStatus": status}


def _run(check: Check, headers: dict, config: dict, send, deadline) -> str:
    """'' when the check passes within its attempts, else what went wrong on the last one. Each failed attempt is
    logged as it happens."""
    outcome = ""
    for attempt in range(1, config["attempts"] + 1):
        if deadline is not None and deadline - time.monotonic() < config["timeout"]:
            return f"{outcome or 'not tried'} (stopped after {attempt - 1} attempts: the function's time is up)"
        try:
            status, body = send(check, headers, config, attempt)
            if status == check.expected_status:
                return ""
            outcome = f"{check.method} {check.path} answered {status}, expected {check.expected_status}: {body[:BODY_SNIPPET]!r}"
        except (OSError, http.client.HTTPException) as error:
            outcome = f"{check.method} {check.path} failed: {error!r}{_hint(error, config)}"
        except ValueError:  # http.client refusing a header: its message would quote the value, which may be secret
            outcome = f"{check.method} {check.path} could not be sent: a header name or value is invalid"
        _log(check=check.name, attempt=attempt, outcome=outcome)
        if attempt < config["attempts"]:
            time.sleep(config["pause"])
    return outcome


def _hint(error: Exception, config: dict) -> str:
    if isinstance(error, (socket.timeout, TimeoutError, ConnectionRefusedError)):
        return (f" (is port {config['port']} open to this function? An internet-facing load balancer sees the NAT "
                "gateways' public addresses: they must be admitted, through gateway_lifecycle_hook.egress_cidrs in an "
                "existing VPC)")
    return ""


def _send(check: Check, headers: dict, config: dict, attempt: int) -> tuple[int, str]:
    """One HTTP(S) request to the test listener, with the routing Host header and, for TLS, the right SNI name.

    The balancer's name resolves to one address per AZ; each attempt connects to one of them in turn (a connection
    that tried them all could take the timeout once per AZ)."""
    name, port, timeout = os.environ["TEST_LISTENER"], config["port"], config["timeout"]
    addresses = list(dict.fromkeys(info[4][0] for info in socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)))
    address = addresses[(attempt - 1) % len(addresses)]
    if config["scheme"] == "https":
        connection = _TlsConnection(address, port, check.host or config.get("server_name"), timeout)
    else:
        connection = http.client.HTTPConnection(address, port, timeout=timeout)
    body = json.dumps(check.body).encode() if check.body is not None else None
    request_headers = {"Host": check.host or name, "User-Agent": "portkey-gateway-smoke-test", **headers}
    if body is not None:
        request_headers.setdefault("Content-Type", "application/json")
    try:
        connection.request(check.method, check.path, body=body, headers=request_headers)
        response = connection.getresponse()
        return response.status, response.read(64 * 1024).decode("utf-8", "replace")
    finally:
        connection.close()


class _TlsConnection(http.client.HTTPSConnection):
    """Connects to the load balancer's address but verifies its certificate for `server_name` (the host clients use).
    Without a known name the chain is still verified, the name is not (the balancer's own DNS name is not on it)."""

    def __init__(self, address: str, port: int, server_name: str | None, timeout: float):
        context = ssl.create_default_context()
        if not server_name:
            context.check_hostname = False
        super().__init__(address, port, timeout=timeout, context=context)
        self._server_name = server_name

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self._server_name or self.host)


def _secret_headers(arn: str | None) -> dict:
    if not arn:
        return {}
    import boto3  # only when configured: keeps cold starts fast and tests free of AWS
    from botocore.config import Config

    # Short timeouts: without a route to Secrets Manager the defaults (60 s, retried) would outlast the function.
    client = boto3.client("secretsmanager", config=Config(connect_timeout=5, read_timeout=5, retries={"total_max_attempts": 2}))
    return checked_headers(json.loads(client.get_secret_value(SecretId=arn)["SecretString"]))


def checked_headers(headers) -> dict:
    """The secret's headers, if http.client can send them; errors name the header, never its value."""
    if not isinstance(headers, dict):
        raise ValueError("the secret must be a JSON object of header names to string values")
    for name, header_value in headers.items():
        if not HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid header name")
        if not isinstance(header_value, str) or not _sendable(header_value):
            raise ValueError(f"the value of {name} must be one line of Latin-1 text (no line breaks)")
    return headers


def _sendable(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return "\r" not in value and "\n" not in value


def _log(**fields) -> None:
    print(json.dumps(fields, sort_keys=True))
