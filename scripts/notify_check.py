#!/usr/bin/env python3
"""Checks that scripts/notify_standin.py speaks GOV.UK Notify's wire format, by driving it with
Notify's OFFICIAL Python client (notifications-python-client, pinned below; installed with pip
if missing). Starts the stand-in itself (and a second one for the rate limit), with a small
local HTTP receiver for delivery receipts and received-text callbacks.

If SWITCHBOARD_NOTIFY_TOKEN is set (a JWT our Rust client made, less than 30 s ago), it is
also checked with the official decoder, notifications_python_client.authentication
.decode_jwt_token(token, secret), and its `iss`, against SWITCHBOARD_NOTIFY_KEY (the API key
it was signed with, required then); the stand-in then runs with that key and must accept the
token too.

Run: python3 scripts/notify_check.py
     SWITCHBOARD_NOTIFY_KEY=... SWITCHBOARD_NOTIFY_TOKEN=... python3 scripts/notify_check.py
Exits non-zero with a message on the first failure; prints one summary line on success.
"""

import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CLIENT_VERSION = "13.0.0"  # newest notifications-python-client on PyPI; installs on 3.11
HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN = os.path.join(HERE, "notify_standin.py")
SMS_TEMPLATE = "c0ffee00-0000-4000-8000-000000000001"
EMAIL_TEMPLATE = "c0ffee00-0000-4000-8000-000000000002"
NAMED_TEMPLATE = "c0ffee00-0000-4000-8000-000000000003"
DEFAULT_KEY = ("switchboard_check-1c1b3f2e-6a1d-4b7e-9a55-3f0c2d7e8b91-"
               "8f2a6c4e-0b7d-4e19-a3c5-5d6e7f8091a2")
CALLBACK_TOKEN = "receipt-token-abcdefghij"
DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
RECEIPT_KEYS = {"id", "reference", "to", "status", "created_at", "completed_at", "sent_at",
                "notification_type", "template_id", "template_version"}
INBOUND_KEYS = {"id", "source_number", "destination_number", "message", "date_received"}
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"  # requests, too
passed = []
# the client logs each failed request as a warning; the expected ones are noise here
logging.getLogger("notifications_python_client").addHandler(logging.NullHandler())


class CheckFailed(Exception):
    pass


def check(name, ok, detail=""):
    if not ok:
        raise CheckFailed(f"{name}: {detail}" if detail else name)
    passed.append(name)


def install_client():
    """Imports the pinned official client, installing it with pip first if need be."""
    try:
        import notifications_python_client
        if notifications_python_client.__version__ == CLIENT_VERSION:
            return
    except ImportError:
        pass
    print(f"notify_check: installing notifications-python-client=={CLIENT_VERSION}",
          file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    f"notifications-python-client=={CLIENT_VERSION}"], check=True)


class Receiver(BaseHTTPRequestHandler):
    """Records every callback; answers 500 to the first delivery receipt whose reference
    is 'chk-retry', so that the stand-in's retry is exercised."""
    got = []  # (path, headers, body)
    failed_once = set()
    lock = threading.Lock()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        with self.lock:
            self.got.append((self.path, dict(self.headers), body))
            retry = body.get("reference") == "chk-retry" and body["id"] not in self.failed_once
            self.failed_once.add(body.get("id"))
        self.send_response(500 if retry else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

    @classmethod
    def wait_for(cls, path, **match):
        """The callbacks to `path` whose body has `match`, once there is one (5 s at most)."""
        for _ in range(100):
            with cls.lock:
                found = [(h, b) for p, h, b in cls.got
                         if p == path and all(b.get(k) == v for k, v in match.items())]
            if found:
                return found
            time.sleep(0.05)
        raise CheckFailed(f"no callback to {path} with {match} within 5 s")


def start_standin(key, *extra):
    proc = subprocess.Popen([sys.executable, STANDIN, "--api-key", key, "--port", "0", *extra],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    try:
        return proc, json.loads(line)["port"]
    except (ValueError, KeyError):
        proc.kill()
        raise CheckFailed(f"stand-in did not print its port line, got {line!r}")


def control(port, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with NO_PROXY.open(req, timeout=10) as resp:
        return json.loads(resp.read())


def expect_error(name, call, status, error, message=None):
    """`call` must raise the client's HTTPError with this status and Notify error body."""
    from notifications_python_client.errors import HTTPError
    try:
        call()
    except HTTPError as e:
        errors = e.message if isinstance(e.message, list) else []
        check(name, e.status_code == status and any(
            x.get("error") == error and (message is None or x.get("message") == message)
            for x in errors), f"got {e.status_code} {e.message!r}")
        check(f"{name}: body status_code", e.response.json().get("status_code") == status)
        return
    raise CheckFailed(f"{name}: expected HTTP {status} {error}, the call succeeded")


def wait_status(client, notification_id, want):
    for _ in range(100):
        n = client.get_notification_by_id(notification_id)
        if n["status"] == want:
            return n
        time.sleep(0.05)
    raise CheckFailed(f"{notification_id} still {n['status']!r}, expected {want!r}")


def check_rust_token(key, port):
    """The token our Rust client made, through the official decoder and the stand-in."""
    from notifications_python_client.authentication import decode_jwt_token, get_token_issuer
    from notifications_python_client.errors import TokenError
    token, service_id, secret = os.environ["SWITCHBOARD_NOTIFY_TOKEN"], key[-73:-37], key[-36:]
    try:
        check("rust token: official decode_jwt_token", decode_jwt_token(token, secret) is True)
    except TokenError as e:
        raise CheckFailed(f"rust token: official decoder refused it: {e.message}")
    check("rust token: iss is the service id", get_token_issuer(token) == service_id,
          f"iss {get_token_issuer(token)!r}, service id {service_id!r}")
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v2/notifications",
                                 headers={"Authorization": f"Bearer {token}"})
    try:
        with NO_PROXY.open(req, timeout=10) as resp:
            check("rust token: accepted by the stand-in", resp.status == 200)
    except urllib.error.HTTPError as e:
        raise CheckFailed(f"rust token: the stand-in refused it: {e.code} {e.read()!r}")


def run(receiver_port, key):
    import jwt  # PyJWT, which the official client depends on
    from notifications_python_client import NotificationsAPIClient
    url = f"http://127.0.0.1:{receiver_port}"
    proc, port = start_standin(key, "--callback-url", url + "/receipt", "--callback-token",
                               CALLBACK_TOKEN, "--inbound-url", url + "/inbound",
                               "--callback-retry-s", "0.05")
    try:
        base = f"http://127.0.0.1:{port}"
        client = NotificationsAPIClient(key, base_url=base)
        if os.environ.get("SWITCHBOARD_NOTIFY_TOKEN"):
            check_rust_token(key, port)

        # text message: personalisation, reference, the 201 body
        sms = client.send_sms_notification("07700900001", NAMED_TEMPLATE, reference="chk-sms-1",
                                           personalisation={"Name": "Ada", "body": "see you"})
        check("sms: 201 body", sms["content"] == {"body": "Hello Ada, see you",
                                                  "from_number": "GOVUK"}
              and sms["reference"] == "chk-sms-1" and sms["uri"].endswith(sms["id"])
              and sms["template"]["id"] == NAMED_TEMPLATE
              and sms["template"]["version"] == 1, repr(sms))
        # email
        email = client.send_email_notification("amala@example.com", EMAIL_TEMPLATE,
                                               personalisation={"subject": "Hi", "body": "Text"},
                                               reference="chk-email-1")
        check("email: 201 body", email["content"]["subject"] == "Hi"
              and email["content"]["body"] == "Text" and "@" in email["content"]["from_email"]
              and email["template"]["id"] == EMAIL_TEMPLATE, repr(email))

        # get by id, until delivered
        n = wait_status(client, sms["id"], "delivered")
        check("get: notification object", n["phone_number"] == "07700900001"
              and n["type"] == "sms" and n["body"] == "Hello Ada, see you"
              and n["reference"] == "chk-sms-1" and n["subject"] is None
              and n["email_address"] is None and n["created_by_name"] is None
              and n["template"]["id"] == NAMED_TEMPLATE and n["template"]["version"] == 1, repr(n))
        check("get: Notify's dates", all(DATE_RE.match(n[k] or "") for k in
                                          ("created_at", "sent_at", "completed_at")), repr(n))
        e = wait_status(client, email["id"], "delivered")
        check("get: email", e["email_address"] == "amala@example.com" and e["subject"] == "Hi"
              and e["type"] == "email", repr(e))

        # list, by reference and by type; the official iterator follows `next`
        page = client.get_all_notifications(reference="chk-sms-1")
        check("list: by reference", [x["id"] for x in page["notifications"]] == [sms["id"]]
              and "current" in page["links"], repr(page))
        page = client.get_all_notifications(template_type="email")
        check("list: by template_type", [x["id"] for x in page["notifications"]] == [email["id"]])
        everything = list(client.get_all_notifications_iterator())
        check("list: iterator, newest first", [x["id"] for x in everything][:2]
              == [email["id"], sms["id"]], repr([x["id"] for x in everything]))

        # failures of delivery
        perm = client.send_sms_notification("07700900002", SMS_TEMPLATE, {"body": "x"})
        wait_status(client, perm["id"], "permanent-failure")
        check("delivery: 07700900002 is permanent-failure", True)
        temp = client.send_sms_notification("+447700900003", SMS_TEMPLATE, {"body": "x"})
        wait_status(client, temp["id"], "temporary-failure")
        check("delivery: +447700900003 is temporary-failure", True)
        bounce = client.send_email_notification("x@perm.fail.test", EMAIL_TEMPLATE,
                                                {"subject": "s", "body": "b"})
        wait_status(client, bounce["id"], "permanent-failure")
        check("delivery: @perm.fail.test is permanent-failure", True)
        failed = client.get_all_notifications(status="failed")["notifications"]
        check("list: status=failed", {x["id"] for x in failed}
              == {perm["id"], temp["id"], bounce["id"]}, repr([x["status"] for x in failed]))

        # delivery receipts: bearer token and Notify's fields
        (headers, receipt), = Receiver.wait_for("/receipt", id=sms["id"])
        check("receipt: bearer token", headers.get("Authorization") == f"Bearer {CALLBACK_TOKEN}",
              repr(headers))
        check("receipt: JSON", headers.get("Content-Type") == "application/json")
        check("receipt: Notify's fields", set(receipt) == RECEIPT_KEYS, repr(sorted(receipt)))
        check("receipt: values", receipt["status"] == "delivered"
              and receipt["to"] == "07700900001" and receipt["reference"] == "chk-sms-1"
              and receipt["notification_type"] == "sms" and receipt["template_version"] == 1
              and receipt["template_id"] == NAMED_TEMPLATE
              and all(DATE_RE.match(receipt[k]) for k in ("created_at", "sent_at",
                                                           "completed_at")), repr(receipt))
        (_, failed_receipt), = Receiver.wait_for("/receipt", id=perm["id"])
        check("receipt: permanent-failure", failed_receipt["status"] == "permanent-failure")
        retried = client.send_sms_notification("07700900123", SMS_TEMPLATE, {"body": "again"},
                                               reference="chk-retry")
        Receiver.wait_for("/receipt", id=retried["id"], status="delivered")
        time.sleep(0.2)
        attempts = [c for c in control(port, "GET", "/_standin/callbacks")
                    if c["id"] == retried["id"]]
        check("receipt: retried after a 500", [c["status"] for c in attempts] == [500, 204],
              repr(attempts))

        # received text messages
        answer = control(port, "POST", "/_standin/inbound",
                         {"source_number": "447700900123", "message": "STOP"})
        (headers, inbound), = Receiver.wait_for("/inbound", id=answer["id"])
        check("inbound: callback", answer["status"] == 204 and set(inbound) == INBOUND_KEYS
              and inbound["message"] == "STOP" and inbound["source_number"] == "447700900123"
              and DATE_RE.match(inbound["date_received"])
              and headers.get("Authorization") == f"Bearer {CALLBACK_TOKEN}", repr(inbound))

        # errors, in Notify's format
        expect_error("missing personalisation", lambda: client.send_sms_notification(
            "07700900001", NAMED_TEMPLATE, {"body": "x"}), 400, "BadRequestError",
            "Missing personalisation: name")
        expect_error("unknown template", lambda: client.send_sms_notification(
            "07700900001", "0b5e7d0c-3f9a-4c1e-8d2b-6a7f8e9d0c1b", {"body": "x"}), 400,
            "BadRequestError", "Template not found")
        expect_error("landline", lambda: client.send_sms_notification(
            "02079460000", SMS_TEMPLATE, {"body": "x"}), 400, "ValidationError",
            "phone_number Not a UK mobile number")
        expect_error("letters in number", lambda: client.send_sms_notification(
            "07700 9OO 001", SMS_TEMPLATE, {"body": "x"}), 400, "ValidationError",
            "phone_number Must not contain letters or symbols")
        expect_error("bad email", lambda: client.send_email_notification(
            "not-an-address", EMAIL_TEMPLATE, {"subject": "s", "body": "b"}), 400,
            "ValidationError", "email_address Not a valid email address")
        expect_error("unknown field", lambda: client.post("/v2/notifications/sms", {
            "phone_number": "07700900001", "template_id": SMS_TEMPLATE, "colour": "red"}), 400,
            "ValidationError", "Additional properties are not allowed (colour was unexpected)")
        expect_error("unknown id", lambda: client.get_notification_by_id(
            "0b5e7d0c-3f9a-4c1e-8d2b-6a7f8e9d0c1b"), 404, "NoResultFound", "No result found")
        wrong_secret = key[:-36] + "00000000-0000-4000-8000-000000000000"
        expect_error("wrong key", lambda: NotificationsAPIClient(wrong_secret, base_url=base)
                     .get_all_notifications(), 403, "AuthError", "Invalid token: API key not found")
        wrong_service = (key[:-73] + "00000000-0000-4000-8000-000000000000-" + key[-36:])
        expect_error("wrong service", lambda: NotificationsAPIClient(wrong_service, base_url=base)
                     .get_all_notifications(), 403, "AuthError", "Invalid token: service not found")
        for skew in (-45, 45):
            token = jwt.encode({"iss": key[-73:-37], "iat": int(time.time()) + skew},
                               key[-36:], headers={"typ": "JWT", "alg": "HS256"})
            req = urllib.request.Request(base + "/v2/notifications",
                                         headers={"Authorization": f"Bearer {token}"})
            try:
                NO_PROXY.open(req, timeout=10)
                raise CheckFailed(f"a token {skew} s off was accepted")
            except urllib.error.HTTPError as e:
                check(f"clock skew {skew:+d} s", e.code == 403 and json.loads(e.read())[
                    "errors"][0]["message"] == "Error: Your system clock must be accurate to "
                    "within 30 seconds")
        try:
            NO_PROXY.open(base + "/v2/notifications", timeout=10)
            raise CheckFailed("a request without a token was accepted")
        except urllib.error.HTTPError as e:
            check("no token: 401", e.code == 401 and json.loads(e.read())["errors"][0]["message"]
                  == "Unauthorized: authentication token must be provided")

        # injected failures
        control(port, "POST", "/_standin/fail", {"status": 429, "count": 1})
        expect_error("injected 429", lambda: client.send_sms_notification(
            "07700900001", SMS_TEMPLATE, {"body": "x"}), 429, "RateLimitError")
        control(port, "POST", "/_standin/fail", {"status": 500, "count": 1})
        expect_error("injected 500", lambda: client.send_sms_notification(
            "07700900001", SMS_TEMPLATE, {"body": "x"}), 500, "Exception", "Internal server error")
        after = client.send_sms_notification("07700900001", SMS_TEMPLATE, {"body": "after"})
        check("sending again after injected failures", bool(after["id"]))

        # the stand-in's own record
        sent = control(port, "GET", "/_standin/sent")
        count = control(port, "GET", "/_standin/count")["count"]
        check("control: sent and count", count == len(sent) == 7
              and sent[0]["id"] == sms["id"] and sent[0]["personalisation"]["Name"] == "Ada"
              and sent[0]["reference"] == "chk-sms-1" and sent[0]["to"] == "07700900001"
              and sent[0]["status"] == "delivered", f"{count} {sent[:1]!r}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    # the rate limit, on a stand-in of its own
    proc, port = start_standin(key, "--rate-per-minute", "2")
    try:
        client = NotificationsAPIClient(key, base_url=f"http://127.0.0.1:{port}")
        for _ in range(2):
            client.send_sms_notification("07700900001", SMS_TEMPLATE, {"body": "x"})
        client.get_all_notifications()  # only sending counts, as in Notify
        expect_error("rate limit", lambda: client.send_sms_notification(
            "07700900001", SMS_TEMPLATE, {"body": "x"}), 429, "RateLimitError",
            "Exceeded rate limit for key type LIVE of 2 requests per 60 seconds")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main():
    key = os.environ.get("SWITCHBOARD_NOTIFY_KEY") or DEFAULT_KEY
    if os.environ.get("SWITCHBOARD_NOTIFY_TOKEN") and not os.environ.get("SWITCHBOARD_NOTIFY_KEY"):
        sys.exit("notify_check: FAIL: SWITCHBOARD_NOTIFY_TOKEN needs SWITCHBOARD_NOTIFY_KEY")
    install_client()
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        run(receiver.server_address[1], key)
    except CheckFailed as e:
        sys.exit(f"notify_check: FAIL: {e}")
    except Exception as e:  # an unexpected answer, e.g. the client's HTTPError on a send
        traceback.print_exc()
        sys.exit(f"notify_check: FAIL: unexpected {type(e).__name__}: {e}")
    finally:
        receiver.shutdown()
    import notifications_python_client
    print(f"notify_check: OK, {len(passed)} checks passed against the stand-in with "
          f"notifications-python-client {notifications_python_client.__version__}"
          + (", Rust token accepted" if os.environ.get("SWITCHBOARD_NOTIFY_TOKEN") else ""))


if __name__ == "__main__":
    main()
