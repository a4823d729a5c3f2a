#!/usr/bin/env python3
"""End-to-end check of scripts/mail_peers.py with imaplib and smtplib.

    python3 scripts/mail_peers_check.py [--keep]

Starts the peers in a fresh temporary directory and checks: IMAP LOGIN,
SELECT INBOX, a message dropped by `mail_peers.py deliver` is announced in
IDLE and fetched byte-for-byte, NOOP/SEARCH see a second one, XOAUTH2 and
OAUTHBEARER with a signed JWT (and refusals of expired / wrongly signed /
other-user tokens and of a wrong password), SMTP with AUTH LOGIN/PLAIN saves
the .eml with headers intact and a .json with the envelope, a wrong SMTP
password is refused, SIGTERM stops everything, and a peers process whose
parent is SIGKILLed (or which is SIGKILLed itself) takes its servers with it.
Exits non-zero on the first failure. Needs: apt-get install -y dovecot-imapd
python3-aiosmtpd. --keep leaves the temporary directories.
"""

import base64
import email
import imaplib
import json
import os
import select
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "mail_peers.py")
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import mail_peers  # noqa: E402

KEY = b"switchboard-test-oauth-key-abcdefghij"
KEY_B64 = base64.b64encode(KEY).decode()
USER, PASSWORD = "inbox@trust.test", "secret"
USER2, PASSWORD2 = "ops@trust.test", "p@ss word"
SMTP_USER, SMTP_PASS = "relay@trust.test", "relay-secret"

failures = 0
passes = 0
tmpdirs = []


def ok(cond, what):
    global failures, passes
    print(("ok    " if cond else "FAIL  ") + what, flush=True)
    if cond:
        passes += 1
    else:
        failures += 1
        raise SystemExit(finish())
    return cond


def cleanup(keep):
    if keep or failures:
        for t in tmpdirs:
            print(f"      kept {t}", flush=True)
        return
    for t in tmpdirs:
        shutil.rmtree(t, ignore_errors=True)


def finish():
    print(f"mail_peers_check: {passes} passed, {failures} failed", flush=True)
    return 1 if failures else 0


def read_json_line(proc, timeout=60):
    deadline = time.monotonic() + timeout
    buf = b""
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
            if b"\n" in buf:
                return json.loads(buf.split(b"\n", 1)[0])
        elif proc.poll() is not None:
            break
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    raise SystemExit(f"mail_peers did not print its line (rc={proc.poll()}): {buf!r}\n{err}")


def port_closed(port, within=10.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return True
        time.sleep(0.1)
    return False


def imap_auth(port, mech, response):
    m = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    try:
        m.authenticate(mech, lambda _challenge: response)
        typ, data = m.select("INBOX")
        m.logout()
        return typ == "OK"
    except imaplib.IMAP4.error:
        try:
            m.logout()
        except Exception:
            pass
        return False


def idle_until_exists(m, action, timeout=10.0):
    """IMAP IDLE by hand (imaplib has no idle() before 3.14): start IDLE,
    run action(), return the first untagged EXISTS line."""
    tag = m._new_tag().decode()
    m.send(f"{tag} IDLE\r\n".encode())
    first = m.readline()
    if not first.startswith(b"+"):
        raise AssertionError(f"IDLE not accepted: {first!r}")
    t0 = time.monotonic()
    action()
    m.sock.settimeout(timeout)
    seen = None
    try:
        while True:
            line = m.readline()
            if not line:
                break
            if line.startswith(b"*") and b"EXISTS" in line:
                seen = (line.strip(), time.monotonic() - t0)
                break
    except (socket.timeout, TimeoutError):
        pass
    m.send(b"DONE\r\n")
    m.sock.settimeout(10)
    while True:
        line = m.readline()
        if not line or line.startswith(tag.encode()):
            break
    return seen


def main():
    print(f"dovecot: {mail_peers.dovecot_version(mail_peers.find_dovecot())}; "
          f"aiosmtpd via {mail_peers.python_with_aiosmtpd()}", flush=True)
    d = tempfile.mkdtemp(prefix="mail-peers-check-")
    tmpdirs.append(d)
    t0 = time.monotonic()
    peers = subprocess.Popen(
        [sys.executable, PEERS, "--dir", d,
         "--user", f"{USER}:{PASSWORD}", "--user", f"{USER2}:{PASSWORD2}",
         "--smtp-auth", f"{SMTP_USER}:{SMTP_PASS}",
         "--oauth-key", KEY_B64],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        info = read_json_line(peers)
        startup = time.monotonic() - t0
        print(f"      line: {json.dumps(info)}", flush=True)
        ok(info["maildir_root"] == os.path.join(d, "mail") and
           info["smtp_out"] == os.path.join(d, "smtp-out") and
           info["users"] == [USER, USER2], f"JSON line as documented ({startup:.2f}s to start)")
        check_imap(d, info)
        check_oauth(info)
        check_smtp(info)
        peers.send_signal(signal.SIGTERM)
        rc = peers.wait(15)
        ok(rc == 0, f"SIGTERM: peers exit 0 (got {rc})")
        ok(port_closed(info["imap_port"], 5) and port_closed(info["smtp_port"], 5),
           "after SIGTERM both ports are closed")
        ok(os.path.isdir(os.path.join(d, "mail", USER, "new")) and os.listdir(os.path.join(d, "smtp-out")),
           "after SIGTERM DIR is left in place")
    finally:
        if peers.poll() is None:
            peers.kill()
            peers.wait()
    check_oauth_claims()
    check_parent_death()
    check_self_kill()
    check_errors()
    return finish()


def check_imap(d, info):
    port = info["imap_port"]
    m = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    ok("IDLE" in m.capabilities and "AUTH=PLAIN" in m.capabilities
       and "AUTH=XOAUTH2" in m.capabilities and "AUTH=OAUTHBEARER" in m.capabilities,
       f"capabilities: {' '.join(m.capabilities)}")
    typ, _ = m.login(USER, PASSWORD)
    ok(typ == "OK", "IMAP LOGIN with the password")
    typ, data = m.select("INBOX")
    ok(typ == "OK" and data[0] == b"0", f"SELECT INBOX: {data[0]!r} messages")

    msg = (b"From: Alice Example <alice@example.org>\n"
           b"To: inbox@trust.test\n"
           b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= from the check\n"
           b"Message-ID: <check-1@example.org>\n"
           b"X-Trust-Case: 42; a=b\n"
           b"MIME-Version: 1.0\n"
           b"Content-Type: text/plain; charset=utf-8\n"
           b"\n"
           b"Hello,\n.dotted line\nbye\n")
    eml = os.path.join(d, "in-1.eml")
    with open(eml, "wb") as f:
        f.write(msg)

    def drop():
        r = subprocess.run([sys.executable, PEERS, "deliver", "--dir", d, "--user", USER, eml],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f"deliver failed: {r.stderr}")
        path = r.stdout.strip()
        if not (path.startswith(os.path.join(d, "mail", USER, "new") + "/") and os.path.exists(path)):
            raise AssertionError(f"deliver printed {path!r}")

    seen = idle_until_exists(m, drop)
    ok(seen is not None and seen[0] == b"* 1 EXISTS",
       f"IDLE announces the delivered message: {seen[0] if seen else None!r}"
       f" after {seen[1] if seen else 0:.2f}s")
    typ, data = m.fetch("1", "(RFC822)")
    body = data[0][1] if typ == "OK" and data and isinstance(data[0], tuple) else b""
    ok(body == msg.replace(b"\n", b"\r\n"), "FETCH 1 RFC822 returns the message (CRLF)")
    parsed = email.message_from_bytes(body)
    ok(parsed["Message-ID"] == "<check-1@example.org>" and parsed["X-Trust-Case"] == "42; a=b",
       "fetched headers intact")

    # a second one, without IDLE: NOOP then SEARCH
    mail_peers.deliver(d, USER, b"From: bob@example.org\nSubject: second\n"
                                b"Message-ID: <check-2@example.org>\n\nsecond\n")
    found = b""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        m.noop()
        typ, data = m.search(None, "HEADER", "Message-ID", "check-2@example.org")
        found = data[0]
        if found:
            break
        time.sleep(0.1)
    ok(found == b"2", f"NOOP + SEARCH find the second message: {found!r}")
    typ, data = m.fetch("2", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    ok(typ == "OK" and b"second" in data[0][1], "FETCH 2 header")
    m.logout()

    m2 = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    m2.login(USER2, PASSWORD2)
    typ, data = m2.select("INBOX")
    ok(typ == "OK" and data[0] == b"0", "second user (password with a space) logs in, own INBOX empty")
    m2.logout()

    m3 = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    try:
        m3.login(USER, "wrong")
        refused = False
    except imaplib.IMAP4.error:
        refused = True
    ok(refused, "wrong password is refused")
    m3.logout()


def check_oauth(info):
    port = info["imap_port"]
    tok = mail_peers.make_token(KEY, USER)
    ok(imap_auth(port, "XOAUTH2", mail_peers.xoauth2_response(USER, tok)),
       "AUTHENTICATE XOAUTH2 with a signed JWT, then SELECT")
    ok(imap_auth(port, "OAUTHBEARER", mail_peers.oauthbearer_response(USER, tok, port=port)),
       "AUTHENTICATE OAUTHBEARER with the same JWT")
    r = subprocess.run([sys.executable, PEERS, "token", "--oauth-key", KEY_B64, "--sub", USER2],
                       capture_output=True, text=True, check=True)
    ok(imap_auth(port, "XOAUTH2", mail_peers.xoauth2_response(USER2, r.stdout.strip())),
       "`mail_peers.py token` makes a token the server accepts")
    expired = mail_peers.make_token(KEY, USER, ttl=-60, now=time.time() - 120)
    ok(not imap_auth(port, "XOAUTH2", mail_peers.xoauth2_response(USER, expired)),
       "expired token refused")
    bad = mail_peers.make_token(b"another key", USER)
    ok(not imap_auth(port, "XOAUTH2", mail_peers.xoauth2_response(USER, bad)),
       "token signed with another key refused")
    ok(not imap_auth(port, "XOAUTH2", mail_peers.xoauth2_response(USER2, tok)),
       "token whose sub is another user refused")
    ghost = mail_peers.make_token(KEY, "ghost@trust.test")
    ok(not imap_auth(port, "XOAUTH2", mail_peers.xoauth2_response("ghost@trust.test", ghost)),
       "token for a user not in the passwd file refused")


def wait_files(out, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        emls = sorted(f for f in os.listdir(out) if f.endswith(".eml"))
        if len(emls) >= n:
            return emls
        time.sleep(0.05)
    return sorted(f for f in os.listdir(out) if f.endswith(".eml"))


def check_smtp(info):
    port, out = info["smtp_port"], info["smtp_out"]
    raw = ("From: Switchboard <noreply@trust.test>\r\n"
           "To: Carol <carol@example.org>\r\n"
           "Subject: Your case #42\r\n"
           "Message-ID: <smtp-1@trust.test>\r\n"
           "X-Switchboard-Case: 42\r\n"
           "MIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n"
           "\r\n"
           "Hi Carol,\r\n.leading dot\r\nbye\r\n")
    with smtplib.SMTP("127.0.0.1", port, local_hostname="switchboard.test", timeout=10) as s:
        s.ehlo()
        ok(s.has_extn("auth") and "PLAIN" in s.esmtp_features["auth"]
           and "LOGIN" in s.esmtp_features["auth"], f"EHLO offers AUTH {s.esmtp_features.get('auth')}")
        s.login(SMTP_USER, SMTP_PASS)
        refused = s.sendmail("noreply@trust.test", ["carol@example.org", "dave@example.org"],
                             raw.encode())
        ok(refused == {}, "SMTP AUTH + sendmail to two recipients accepted")
    emls = wait_files(out, 1)
    ok(len(emls) == 1, f"one .eml in smtp-out: {emls}")
    stem = emls[0][:-4]
    with open(os.path.join(out, emls[0]), "rb") as f:
        saved = f.read()
    ok(saved == raw.encode(), "the .eml holds the message as sent (dot-stuffing undone)")
    parsed = email.message_from_bytes(saved)
    ok(parsed["Subject"] == "Your case #42" and parsed["Message-ID"] == "<smtp-1@trust.test>"
       and parsed["X-Switchboard-Case"] == "42", "saved headers intact")
    with open(os.path.join(out, stem + ".json")) as f:
        meta = json.load(f)
    ok(meta["mail_from"] == "noreply@trust.test"
       and meta["rcpt_tos"] == ["carol@example.org", "dave@example.org"]
       and meta["auth_user"] == SMTP_USER and meta["eml"] == emls[0],
       f"sidecar: from={meta['mail_from']} to={meta['rcpt_tos']} auth_user={meta['auth_user']}")

    # AUTH PLAIN explicitly, and without AUTH (not required by default)
    with smtplib.SMTP("127.0.0.1", port, local_hostname="switchboard.test", timeout=10) as s:
        s.ehlo()
        s.user, s.password = SMTP_USER, SMTP_PASS
        code, _ = s.auth("PLAIN", s.auth_plain)
        ok(code == 235, "AUTH PLAIN accepted")
        s.sendmail("a@trust.test", ["b@example.org"], b"Subject: plain\r\n\r\nx\r\n")
    with smtplib.SMTP("127.0.0.1", port, local_hostname="switchboard.test", timeout=10) as s:
        s.sendmail("a@trust.test", ["c@example.org"], b"Subject: anon\r\n\r\ny\r\n")
    emls = wait_files(out, 3)
    metas = [json.load(open(os.path.join(out, e[:-4] + ".json"))) for e in emls]
    ok([m["rcpt_tos"] for m in metas] == [["carol@example.org", "dave@example.org"],
                                          ["b@example.org"], ["c@example.org"]]
       and metas[2]["auth_user"] is None, "files sort in arrival order; anonymous has auth_user null")
    with smtplib.SMTP("127.0.0.1", port, local_hostname="switchboard.test", timeout=10) as s:
        try:
            s.login(SMTP_USER, "wrong")
            refused = False
        except smtplib.SMTPAuthenticationError:
            refused = True
    ok(refused, "wrong SMTP password refused (535)")


def check_oauth_claims():
    """--oauth-issuer / --oauth-audience / --oauth-scope make those claims count."""
    d = tempfile.mkdtemp(prefix="mail-peers-check-")
    tmpdirs.append(d)
    p = subprocess.Popen([sys.executable, PEERS, "--dir", d, "--oauth-key", KEY_B64,
                          "--oauth-issuer", "https://idp.trust.test",
                          "--oauth-audience", "switchboard", "--oauth-scope", "mail.imap"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = read_json_line(p)["imap_port"]
        good = dict(iss="https://idp.trust.test", aud="switchboard", scope="openid mail.imap")

        def login(**kw):
            claims = dict(good)
            claims.update(kw)
            tok = mail_peers.make_token(KEY, USER, **claims)
            return imap_auth(port, "XOAUTH2", mail_peers.xoauth2_response(USER, tok))

        ok(login(), "with --oauth-issuer/--oauth-audience/--oauth-scope: iss+aud+scope token accepted")
        ok(login(aud=["other", "switchboard"]), "aud as an array containing the audience accepted")
        ok(not login(iss=None), "token without iss refused")
        ok(not login(iss="https://evil.test"), "token from another issuer refused")
        ok(not login(aud="other"), "token for another audience refused")
        ok(not login(scope="openid"), "token without the scope refused")
        ok(not login(scope=None, aud="mail.imap"), "aud does not stand in for a missing scope")
    finally:
        p.terminate()
        p.wait(15)


def check_parent_death():
    d = tempfile.mkdtemp(prefix="mail-peers-check-")
    tmpdirs.append(d)
    middle = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys; subprocess.Popen(sys.argv[1:]).wait()",
         sys.executable, PEERS, "--dir", d],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    info = read_json_line(middle)
    middle.kill()
    middle.wait()
    ok(port_closed(info["imap_port"]) and port_closed(info["smtp_port"]),
       "parent SIGKILLed: the peers stop both servers")


def check_self_kill():
    d = tempfile.mkdtemp(prefix="mail-peers-check-")
    tmpdirs.append(d)
    p = subprocess.Popen([sys.executable, PEERS, "--dir", d],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    info = read_json_line(p)
    p.kill()
    p.wait()
    ok(port_closed(info["imap_port"]) and port_closed(info["smtp_port"]),
       "peers SIGKILLed: Dovecot and the SMTP server die with it")


def check_errors():
    r = subprocess.run([sys.executable, PEERS, "--dir", tempfile.gettempdir() + "/x", "--user", "nocolon"],
                       capture_output=True, text=True, timeout=30)
    ok(r.returncode != 0 and "NAME:PASSWORD" in r.stderr and r.stdout == "",
       f"bad --user: exit {r.returncode}, {r.stderr.strip()!r}")
    shutil.rmtree(tempfile.gettempdir() + "/x", ignore_errors=True)


if __name__ == "__main__":
    try:
        rc = main()
    except SystemExit as e:
        if not failures and e.code not in (0, None):
            print(e.code, file=sys.stderr)  # a message from read_json_line
            failures += 1
            finish()
        rc = 1 if failures else (e.code or 0)
    except Exception:  # an unexpected exception is a failure too
        import traceback
        traceback.print_exc()
        failures += 1
        rc = finish()
    cleanup("--keep" in sys.argv)
    sys.exit(rc)
