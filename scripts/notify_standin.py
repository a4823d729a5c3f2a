#!/usr/bin/env python3
"""A local stand-in for GOV.UK Notify's v2 REST API, for tests: stdlib only, nothing is really
sent. Written from Notify's public API docs (alphagov/notifications-tech-docs); answers and
messages are Notify's own.

Run: python3 scripts/notify_standin.py --api-key KEY [--port 0] [--callback-url URL
       --callback-token TOKEN] [--inbound-url URL] [--templates FILE.json]
       [--rate-per-minute 3000] [--callback-retry-s 0.5] [--delivery-ms 50]
KEY is `{key name}-{service id uuid}-{secret uuid}`. Prints {"port": N}, then serves on
127.0.0.1 until killed. API (JWT: HS256, iss = service id, iat within 30 s): POST
/v2/notifications/sms and /email, GET /v2/notifications/{id} and /v2/notifications?filters.
Default templates (--templates FILE replaces them: {"<uuid>": {type, subject?, body, version?}}):
  c0ffee00-0000-4000-8000-000000000001  sms    "((body))"
  c0ffee00-0000-4000-8000-000000000002  email  subject "((subject))", body "((body))"
  c0ffee00-0000-4000-8000-000000000003  sms    "Hello ((name)), ((body))"
Delivery, created -> sending -> final after --delivery-ms, then a receipt to --callback-url,
retried like Notify (on connection errors, 5xx, 429) every --callback-retry-s, 5 times:
  07700900002, perm-fail@simulator.notify, *@perm.fail.test -> permanent-failure
  07700900003, temp-fail@simulator.notify, *@temp.fail.test -> temporary-failure
Test control, no auth (not Notify's): POST /_standin/inbound {source_number, message,
destination_number?} (Notify's received-text callback to --inbound-url, once; answers {id,
status: its HTTP status}), POST /_standin/fail {status: 429|500|403, count: N} (the next N
sending requests fail so), GET /_standin/sent (accepted notifications, in order),
GET /_standin/count ({"count": N}), GET /_standin/callbacks (every callback attempt).
"""

import argparse
import base64
import collections
import hashlib
import hmac
import json
import math
import re
import string
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SMS_TEMPLATE_ID = "c0ffee00-0000-4000-8000-000000000001"
EMAIL_TEMPLATE_ID = "c0ffee00-0000-4000-8000-000000000002"
NAMED_SMS_TEMPLATE_ID = "c0ffee00-0000-4000-8000-000000000003"
DEFAULT_TEMPLATES = {
    SMS_TEMPLATE_ID: {"type": "sms", "body": "((body))"},
    EMAIL_TEMPLATE_ID: {"type": "email", "subject": "((subject))", "body": "((body))"},
    NAMED_SMS_TEMPLATE_ID: {"type": "sms", "body": "Hello ((name)), ((body))"},
}
FROM_EMAIL = "standin.service@notifications.service.gov.uk"
SMS_RATE = 0.0227  # illustrative: Notify reads each day's rate from its database

# Notify's auth messages (notifications-api, app/authentication/auth.py)
GENERAL_TOKEN_ERROR = ("Invalid token: make sure your API token matches the example at "
                       "https://docs.notifications.service.gov.uk/rest-api.html"
                       "#authorisation-header")
CLOCK_ERROR = "Error: Your system clock must be accurate to within 30 seconds"
KEY_NOT_FOUND = "Invalid token: API key not found"
STATUSES = ["cancelled", "created", "sending", "sent", "delivered", "pending", "failed",
            "technical-failure", "temporary-failure", "permanent-failure",
            "pending-virus-check", "validation-failed", "virus-scan-failed", "returned-letter",
            "accepted", "received"]
FAILED = ["technical-failure", "temporary-failure", "permanent-failure", "validation-failed",
          "virus-scan-failed", "returned-letter"]  # what status=failed means
PAGE_SIZE = 250
SMS_CHAR_LIMIT = 918
PLACEHOLDER = re.compile(r"\(\(([^()]+)\)\)")
UUID_RE = re.compile(r"^[0-9a-f]{8}-?([0-9a-f]{4}-?){3}[0-9a-f]{12}$", re.I)
EMAIL_RE = re.compile(r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~\-]+@([^.@][^@\s]{0,252})$")
HOST_RE = re.compile(r"^(xn|[a-z0-9]+)(-?-[a-z0-9]+)*$", re.I)
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def now():
    return datetime.now(timezone.utc)


def fmt(dt):
    """Notify's date format, e.g. 2026-12-07T21:00:00.000000Z."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if dt else None


class ApiError(Exception):
    """An answer in Notify's v2 error shape; errors are (error type, message) pairs."""

    def __init__(self, status, *errors):
        super().__init__(errors)
        self.status = status
        self.body = {"status_code": status,
                     "errors": [{"error": e, "message": m} for e, m in errors]}


def is_uuid(value):
    return isinstance(value, str) and bool(UUID_RE.match(value))


def b64url(segment):
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def insensitive(key):
    """Notify matches placeholder names ignoring case, spaces, _ and -."""
    return str(key).translate(str.maketrans("", "", " _-")).lower()


def render(text, values, markdown_lists):
    """Fills ((name)) and ((name??shown if truthy)); returns (text, missing names)."""
    values = {insensitive(k): v for k, v in values.items()}
    missing = []

    def fill(match):
        name, cond, shown = match.group(1).partition("??")
        value = values.get(insensitive(name))
        if value is None:
            missing.append(name)
            return match.group(0)
        if cond:
            truthy = str(value).lower() in ("yes", "y", "true", "t", "1", "include", "show")
            return shown if truthy else ""
        if not isinstance(value, list):
            return str(value)
        items = [str(v).strip() for v in value if v is not None and str(v).strip()]
        if markdown_lists and items:  # emails get a Markdown list, texts "a, b and c"
            return "\n\n" + "\n".join("* " + i for i in items)
        return " and ".join(filter(None, [", ".join(items[:-1]), "".join(items[-1:])]))

    return PLACEHOLDER.sub(fill, text or ""), missing


def check_phone(raw):
    """(national '7xxxxxxxxx', None), or (None, Notify's legacy v2 message or 'international').
    Only UK mobiles pass, as for a Notify service without international or landline sending."""
    if set(raw) - set(" \t\r\n()-+") - set(string.digits):
        return None, "Must not contain letters or symbols"
    digits = re.sub(r"\D", "", raw)
    if not digits:
        return None, "Not enough digits"
    international = raw.strip().lstrip("(").startswith("+") or digits.startswith("00")
    digits = digits[2:] if digits.startswith("00") else digits
    if digits.startswith("44") and (international or len(digits) > 11):
        digits = digits[2:]
    elif international:
        return None, "international"
    digits = digits[1:] if digits.startswith("0") else digits  # 07..., +44 (0)7...
    if not digits.startswith("7"):
        return None, "Not a UK mobile number"
    if len(digits) != 10:
        return None, "Too many digits" if len(digits) > 10 else "Not enough digits"
    return digits, None


def valid_email(address):
    """Notify's rules (notifications-utils validate_email_address), minus IDNA."""
    match = EMAIL_RE.match(address.strip())
    parts = match.group(1).split(".") if match and ".." not in address else []
    return (len(parts) > 1 and all(HOST_RE.match(p) for p in parts)
            and bool(re.match(r"^[a-z]{2,63}$|^xn--", parts[-1], re.I)))


def final_status(kind, to):
    """Notify's simulated recipients (app/celery/research_mode_tasks.py), plus two domains."""
    if kind == "sms":
        return {"7700900002": "permanent-failure",
                "7700900003": "temporary-failure"}.get(check_phone(to)[0], "delivered")
    to = to.strip().lower()
    if to == "perm-fail@simulator.notify" or to.endswith("@perm.fail.test"):
        return "permanent-failure"
    if to == "temp-fail@simulator.notify" or to.endswith("@temp.fail.test"):
        return "temporary-failure"
    return "delivered"


def post_json(url, token, payload):
    """POSTs a callback as Notify does; returns (HTTP status or None, error text or None)."""
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {token}"})
    try:
        with NO_PROXY.open(req, timeout=5) as resp:
            return resp.status, None
    except urllib.error.HTTPError as e:
        return e.code, None
    except OSError as e:  # URLError, refused, timeout
        return None, str(e)


def validate_fields(body, recipient, optional):
    """The POST body against Notify's JSON schema, with its messages (app/schema_validation)."""
    errors = []
    known = (recipient, "template_id", "personalisation", "reference", "scheduled_for") + optional
    for key, value in body.items():
        if key not in known:
            continue
        if key == recipient and not isinstance(value, str):
            errors.append(f"{key} {value!r} is not of type string".replace("'", ""))
        elif key == recipient == "phone_number" and check_phone(value)[1] not in (
                None, "international"):
            errors.append(f"phone_number {check_phone(value)[1]}")
        elif key == recipient == "email_address" and not valid_email(value):
            errors.append("email_address Not a valid email address")
        elif key in ("template_id", "sms_sender_id", "email_reply_to_id") and not is_uuid(value):
            errors.append(f"{key} is not a valid UUID")
        elif key == "personalisation" and not isinstance(value, dict):
            errors.append(f"personalisation {value!r} is not of type object".replace("'", ""))
        elif key == "reference" and not isinstance(value, str):
            errors.append(f"reference {value!r} is not of type string".replace("'", ""))
        elif key == "reference" and len(value) > 1000:
            errors.append(f"reference {value} is too long")
        elif key == "one_click_unsubscribe_url" and not str(value).startswith("https"):
            errors.append("one_click_unsubscribe_url is not a valid https url")
    errors += [f"{k} is a required property" for k in (recipient, "template_id") if k not in body]
    extra = [k for k in body if k not in known]
    if extra:
        errors.append(f"Additional properties are not allowed ({', '.join(extra)} "
                      f"{'was' if len(extra) == 1 else 'were'} unexpected)")
    return errors


class Standin:
    """All mutable state, behind one lock."""

    def __init__(self, args):
        self.args = args
        self.service_id, self.secret = args.api_key[-73:-37], args.api_key[-36:]
        if not (is_uuid(self.service_id) and is_uuid(self.secret)):
            sys.exit("--api-key must look like {key name}-{service id uuid}-{secret uuid}")
        templates = DEFAULT_TEMPLATES
        if args.templates:
            with open(args.templates, encoding="utf-8") as f:
                templates = json.load(f)
        for tid, t in templates.items():
            if not is_uuid(tid) or t.get("type") not in ("sms", "email") or "body" not in t:
                sys.exit(f"template {tid}: needs a uuid id, type sms or email, and a body")
        self.templates = {str(uuid.UUID(tid)): t for tid, t in templates.items()}
        self.lock = threading.Lock()
        self.notifications = []  # in creation order
        self.by_id = {}
        self.failures = collections.deque()  # [status, remaining], from /_standin/fail
        self.window = collections.deque()  # monotonic times of this minute's sending requests
        self.callbacks = []  # every callback attempt

    def authenticate(self, header):
        """As notifications-api's requires_auth, with notifications-python-client's
        decode_jwt_token (PyJWT, leeway 30 s)."""
        def deny(message, status=403):
            return ApiError(status, ("AuthError", message))

        if not header:
            raise deny("Unauthorized: authentication token must be provided", 401)
        if header[:7].title() != "Bearer ":
            raise deny("Unauthorized: authentication bearer scheme must be used", 401)
        try:
            signing_input, signature = header[7:].rsplit(".", 1)
            head, claims = (json.loads(b64url(s)) for s in signing_input.split(".", 1))
            signature = b64url(signature)
            if not isinstance(head, dict) or not isinstance(claims, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
            raise deny(GENERAL_TOKEN_ERROR)
        if "iss" not in claims:
            raise deny("Invalid token: iss field not provided")
        try:
            service = uuid.UUID(claims["iss"])
        except (TypeError, ValueError, AttributeError):
            raise deny("Invalid token: service id is not the right data type")
        if service != uuid.UUID(self.service_id):
            raise deny("Invalid token: service not found")
        if head.get("alg") != "HS256":
            raise deny("Invalid token: algorithm used is not HS256")
        expected = hmac.new(self.secret.encode(), signing_input.encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.digest(), signature):
            raise deny(KEY_NOT_FOUND)
        t = int(time.time())
        try:  # PyJWT's checks (iat, then exp), then Notify's own 30 s bound on iat
            iat = int(claims["iat"]) if "iat" in claims else None
            expired = "exp" in claims and t > int(claims["exp"]) + 30
        except (TypeError, ValueError):
            raise deny(CLOCK_ERROR)
        if iat is not None and iat > t + 30:
            raise deny(CLOCK_ERROR)
        if expired:
            raise deny(GENERAL_TOKEN_ERROR)
        if iat is None:  # Notify then tries the service's other keys and gives up
            raise deny(KEY_NOT_FOUND)
        if t > iat + 30:
            raise deny(CLOCK_ERROR)

    def before_send(self):
        """Injected failures, then the rate limit (Notify limits only sending requests)."""
        rate_error = ("RateLimitError", f"Exceeded rate limit for key type LIVE of "
                      f"{self.args.rate_per_minute} requests per 60 seconds")
        with self.lock:
            if self.failures:
                status = self.failures[0][0]
                self.failures[0][1] -= 1
                if self.failures[0][1] <= 0:
                    self.failures.popleft()
                raise ApiError(status, {429: rate_error,
                                        500: ("Exception", "Internal server error"),
                                        403: ("AuthError", KEY_NOT_FOUND)}[status])
            t = time.monotonic()
            while self.window and t - self.window[0] >= 60:
                self.window.popleft()
            if len(self.window) >= self.args.rate_per_minute:
                raise ApiError(429, rate_error)
            self.window.append(t)

    def send(self, kind, load_body, root):
        """POST /v2/notifications/{sms,email}, checked in Notify's order."""
        self.before_send()
        body = load_body()
        if not isinstance(body, dict):
            raise ApiError(400, ("ValidationError",
                                 f"{body!r} is not of type object".replace("'", "")))
        recipient = "phone_number" if kind == "sms" else "email_address"
        optional = ("sms_sender_id",) if kind == "sms" else (
            "email_reply_to_id", "one_click_unsubscribe_url", "sanitise_content_for")
        errors = validate_fields(body, recipient, optional)
        if errors:
            raise ApiError(400, *[("ValidationError", e) for e in errors])
        template_id = str(uuid.UUID(body["template_id"]))
        template = self.templates.get(template_id)
        if template is None:
            raise ApiError(400, ("BadRequestError", "Template not found"))
        if template["type"] != kind:
            raise ApiError(400, ("BadRequestError",
                                 f"{template['type']} template is not suitable for {kind} "
                                 "notification"))
        values = body.get("personalisation") or {}
        subject, missing_in_subject = render(template.get("subject"), values, False)
        text, missing = render(template["body"], values, kind == "email")
        missing = {insensitive(n): n for n in missing_in_subject + missing}  # once each, in order
        if missing:
            raise ApiError(400, ("BadRequestError", "Missing personalisation: "
                                 + ", ".join(missing.values())))
        if not text.strip():
            raise ApiError(400, ("BadRequestError", "Your message is empty."))
        to = body[recipient]
        if kind == "sms" and check_phone(to)[1] == "international":
            raise ApiError(400, ("BadRequestError", "Cannot send to international mobile numbers"))
        if kind == "sms" and len(text) > SMS_CHAR_LIMIT:
            raise ApiError(400, ("BadRequestError", "Your message is too long. Text messages "
                                 f"cannot be longer than {SMS_CHAR_LIMIT} characters. Your "
                                 f"message is {len(text)} characters long."))
        n = {"id": str(uuid.uuid4()), "type": kind, "to": to, "template_id": template_id,
             "template_version": int(template.get("version", 1)), "personalisation": values,
             "reference": body.get("reference"), "body": text,
             "subject": subject if kind == "email" else None, "status": "created",
             "created_at": now(), "sent_at": None, "completed_at": None}
        with self.lock:
            self.notifications.append(n)
            self.by_id[n["id"]] = n
        threading.Thread(target=self.deliver, args=(n,), daemon=True).start()
        resp = {"id": n["id"], "reference": n["reference"],
                "uri": f"{root}/v2/notifications/{n['id']}", "scheduled_for": None,
                "template": {"id": template_id, "version": n["template_version"],
                             "uri": f"{root}/services/{self.service_id}/templates/{template_id}"}}
        if kind == "sms":  # any sms_sender_id / email_reply_to_id uuid is taken as valid
            resp["content"] = {"body": text, "from_number": "GOVUK"}
        else:
            resp["content"] = {"body": text, "subject": subject, "from_email": FROM_EMAIL,
                               "one_click_unsubscribe_url": body.get("one_click_unsubscribe_url")}
            resp["sanitised_content"] = {}
        return resp

    def deliver(self, n):
        """created -> sending -> final status, then the delivery receipt."""
        delay = self.args.delivery_ms / 1000.0
        time.sleep(delay / 5)
        with self.lock:
            n["status"], n["sent_at"] = "sending", now()
        time.sleep(delay * 4 / 5)
        with self.lock:
            n["status"], n["completed_at"] = final_status(n["type"], n["to"]), now()
            receipt = {"id": n["id"], "reference": n["reference"], "to": n["to"],
                       "status": n["status"], "created_at": fmt(n["created_at"]),
                       "completed_at": fmt(n["completed_at"]), "sent_at": fmt(n["sent_at"]),
                       "notification_type": n["type"], "template_id": n["template_id"],
                       "template_version": n["template_version"]}
        if self.args.callback_url:
            self.callback("delivery", self.args.callback_url, receipt, self.args.callback_retries)

    def callback(self, kind, url, payload, retries):
        """Notify retries on connection errors, 5xx and 429; other answers end it."""
        for attempt in range(1, retries + 2):
            status, error = post_json(url, self.args.callback_token or "", payload)
            with self.lock:
                self.callbacks.append({"kind": kind, "id": payload["id"], "attempt": attempt,
                                       "status": status, "error": error})
            if status is not None and status < 500 and status != 429:
                break
            if attempt <= retries:
                time.sleep(self.args.callback_retry_s)
        return status

    def serialize(self, n, root):
        """Notify's notification object (Notification.serialize_with_cost_data)."""
        sms, ready = n["type"] == "sms", n["type"] == "email" or n["status"] != "created"
        fragments = 1 if len(n["body"]) <= 160 else math.ceil(len(n["body"]) / 153)  # GSM
        return {
            "id": n["id"], "reference": n["reference"],
            "email_address": None if sms else n["to"], "phone_number": n["to"] if sms else None,
            **{f"line_{i}": None for i in range(1, 7)}, "postcode": None, "postage": None,
            "type": n["type"], "status": n["status"],
            "template": {"version": n["template_version"], "id": n["template_id"],
                         "uri": f"{root}/v2/template/{n['template_id']}/version/"
                                f"{n['template_version']}"},
            "body": n["body"], "subject": n["subject"], "created_at": fmt(n["created_at"]),
            "created_by_name": None, "sent_at": fmt(n["sent_at"]),
            "completed_at": fmt(n["completed_at"]), "scheduled_for": None,
            "one_click_unsubscribe_url": None, "is_cost_data_ready": ready,
            "cost_details": {"billable_sms_fragments": fragments,
                             "international_rate_multiplier": 1,
                             "sms_rate": SMS_RATE} if sms and ready else {},
            "cost_in_pounds": (round(fragments * SMS_RATE, 4) if ready else None) if sms else 0.0,
        }

    def get_one(self, notification_id, root):
        if not is_uuid(notification_id):
            raise ApiError(400, ("ValidationError", "notification_id is not a valid UUID"))
        with self.lock:
            n = self.by_id.get(str(uuid.UUID(notification_id)))
            if n is None:
                raise ApiError(404, ("NoResultFound", "No result found"))
            return self.serialize(n, root)

    def get_list(self, query, root):
        """Newest first, up to 250; `next` whenever the page is not empty, as Notify does."""
        data, errors = {}, []
        for key, values in urllib.parse.parse_qs(query, keep_blank_values=True).items():
            if key in ("status", "template_type"):
                allowed = STATUSES if key == "status" else ["sms", "email", "letter"]
                errors += [f"{key} {v} is not one of [{', '.join(allowed)}]"
                           for v in values if v not in allowed]
                data[key] = values
            elif key in ("reference", "older_than", "include_jobs"):
                data[key] = values[0]
            else:
                errors.append(f"Additional properties are not allowed ({key} was unexpected)")
        if "older_than" in data and not is_uuid(data["older_than"]):
            errors.append("older_than is not a valid UUID")
        if errors:
            raise ApiError(400, *[("ValidationError", e) for e in errors])
        statuses = {s for v in data.get("status", []) for s in (FAILED if v == "failed" else [v])}
        with self.lock:
            found = list(reversed(self.notifications))
            if "older_than" in data:
                ids = [n["id"] for n in found]
                older = str(uuid.UUID(data["older_than"]))
                found = found[ids.index(older) + 1:] if older in ids else []
            found = [n for n in found
                     if data.get("reference", n["reference"]) == n["reference"]
                     and n["type"] in data.get("template_type", [n["type"]])
                     and (not statuses or n["status"] in statuses)][:PAGE_SIZE]
            page = [self.serialize(n, root) for n in found]
        def link(params):
            return f"{root}/v2/notifications" + ("?" if params else "") + urllib.parse.urlencode(
                params, doseq=True)

        links = {"current": link(data)}
        if page:
            links["next"] = link(dict(data, older_than=page[-1]["id"]))
        return {"notifications": page, "links": links}

    def inbound(self, body):
        """POST /_standin/inbound: Notify's received-text callback, sent once."""
        if not self.args.inbound_url:
            raise ApiError(400, ("BadRequestError", "start the stand-in with --inbound-url"))
        if not isinstance(body, dict) or not body.get("source_number") or "message" not in body:
            raise ApiError(400, ("BadRequestError",
                                 "need {source_number, message, destination_number?}"))
        payload = {"id": str(uuid.uuid4()), "source_number": str(body["source_number"]),
                   "destination_number": str(body.get("destination_number")
                                             or self.args.inbound_number),
                   "message": str(body["message"]), "date_received": fmt(now())}
        return {"id": payload["id"],
                "status": self.callback("inbound", self.args.inbound_url, payload, 0)}

    def fail(self, body):
        status, count = (body or {}).get("status"), (body or {}).get("count", 1)
        if status not in (429, 500, 403) or not isinstance(count, int) or count < 1:
            raise ApiError(400, ("BadRequestError", "need {status: 429|500|403, count: N >= 1}"))
        with self.lock:
            self.failures.append([status, count])
        return {"status": status, "count": count}

    def sent(self):
        with self.lock:
            return [dict(n, created_at=fmt(n["created_at"]), sent_at=fmt(n["sent_at"]),
                         completed_at=fmt(n["completed_at"])) for n in self.notifications]

    def control(self, method, path, body):
        """The /_standin/ test-control endpoints."""
        with self.lock:
            count, callbacks = len(self.notifications), list(self.callbacks)
        route = {("POST", "/_standin/inbound"): lambda: self.inbound(body()),
                 ("POST", "/_standin/fail"): lambda: self.fail(body()),
                 ("GET", "/_standin/count"): lambda: {"count": count},
                 ("GET", "/_standin/callbacks"): lambda: callbacks,
                 ("GET", "/_standin/sent"): self.sent}.get((method, path))
        if route is None:
            raise ApiError(404, ("NotFound", "Not Found"))
        return route()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the official clients expect
    standin = None  # set in main()

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        if self.standin.args.verbose:
            super().log_message(format, *args)

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def route(self, method):
        s, url = self.standin, urllib.parse.urlsplit(self.path)
        path, root = url.path.rstrip("/"), f"http://{self.headers.get('Host') or '127.0.0.1'}"
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def body():  # parsed only when needed: Notify checks auth and rate first
            try:
                return json.loads(raw) if raw.strip() else {}
            except ValueError:
                raise ApiError(400, ("BadRequestError", "Invalid JSON supplied in POST data"))

        try:
            if path.startswith("/_standin/"):
                return self.reply(200, s.control(method, path, body))
            if not path.startswith("/v2/"):
                raise ApiError(404, ("NotFound", "Not Found"))
            s.authenticate(self.headers.get("Authorization"))
            parts = path.split("/")
            if method == "POST" and path in ("/v2/notifications/sms", "/v2/notifications/email"):
                return self.reply(201, s.send(parts[3], body, root))
            if method == "GET" and path == "/v2/notifications":
                return self.reply(200, s.get_list(url.query, root))
            if method == "GET" and len(parts) == 4 and parts[2] == "notifications":
                return self.reply(200, s.get_one(parts[3], root))
            raise ApiError(404, ("NotFound", "Not Found"))
        except ApiError as e:
            self.reply(e.status, e.body)
        except Exception as e:  # Notify's catch-all answer, and a traceback on stderr
            self.reply(500, ApiError(500, (type(e).__name__, "Internal server error")).body)
            raise

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--api-key", required=True, help="{key name}-{service id}-{secret}")
    p.add_argument("--port", type=int, default=0, help="0: any free port")
    p.add_argument("--callback-url", help="delivery receipts are POSTed here")
    p.add_argument("--callback-token", help="bearer token for both callbacks")
    p.add_argument("--inbound-url", help="received text messages are POSTed here")
    p.add_argument("--inbound-number", default="07700900456", help="default destination_number")
    p.add_argument("--templates", help="JSON file {template id: {type, subject?, body, version?}}")
    p.add_argument("--rate-per-minute", type=int, default=3000)
    p.add_argument("--delivery-ms", type=float, default=50, help="created to final status")
    p.add_argument("--callback-retries", type=int, default=5)
    p.add_argument("--callback-retry-s", type=float, default=0.5)
    p.add_argument("--verbose", action="store_true", help="log each request on stderr")
    args = p.parse_args()
    Handler.standin = Standin(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
