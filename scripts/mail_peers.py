#!/usr/bin/env python3
"""Real mail servers on loopback for Switchboard's integration tests.

    python3 scripts/mail_peers.py --dir DIR [--user NAME:PASSWORD ...]
        [--smtp-auth USER:PASS [--smtp-require-auth]]
        [--oauth-key BASE64 [--oauth-issuer ISS ...] [--oauth-audience AUD]
                            [--oauth-scope SCOPE]]

starts, all on 127.0.0.1 and on free ports it picks itself:

* Dovecot (Debian's dovecot-imapd), in the foreground (`dovecot -F -c
  DIR/etc/dovecot.conf`), with everything it writes inside DIR: sockets in
  DIR/run (or, when DIR's path is too long for a unix socket, in a short
  directory this script makes under /tmp and removes again), state in
  DIR/state, its log in DIR/logs/dovecot.log, users in DIR/etc/passwd, mail
  as Maildirs in DIR/mail/<user>/ (INBOX is that directory itself:
  cur/ new/ tmp/, beside Dovecot's own index files), home directories in
  DIR/home/<user>. No TLS, cleartext LOGIN / AUTH=PLAIN / AUTH=LOGIN allowed,
  IMAP IDLE on. Made for tests: no delay after a failed login
  (auth_failure_delay = 0, anvil's auth penalty off), 1000 connections per
  user and IP.
  With --oauth-key also AUTH=XOAUTH2 and AUTH=OAUTHBEARER: the token must be a
  JWT signed with that key (HS256/384/512), checked locally by Dovecot's
  oauth2 passdb (`introspection_mode = local`, key files in
  DIR/keys/default/HS*/default); `token` below makes one, make_token() says
  which claims count, xoauth2_response() / oauthbearer_response() build the
  SASL strings (OAUTHBEARER needs the a=<user> authzid in Dovecot 2.3).
* an SMTP receiver (aiosmtpd) that accepts every message and saves it as
  DIR/smtp-out/<stem>.eml (the bytes received in DATA, CRLF line endings,
  dot-stuffing removed) and, before that file appears, DIR/smtp-out/<stem>.json
  with the envelope: {"mail_from", "rcpt_tos", "mail_options", "rcpt_options",
  "auth_user", "peer", "helo", "received_at", "eml"}. Names sort in arrival
  order. With --smtp-auth USER:PASS it offers AUTH PLAIN and LOGIN on the
  plain connection (aiosmtpd's auth_require_tls=False) and accepts that user;
  --smtp-require-auth makes MAIL FROM refuse unauthenticated sessions.

Once both accept connections (Dovecot has answered a real LOGIN of the first
user, the SMTP server its 220 greeting) it prints ONE JSON line to stdout:

    {"imap_port": N, "smtp_port": M, "maildir_root": "DIR/mail",
     "smtp_out": "DIR/smtp-out", "users": ["inbox@trust.test"], "host":
     "127.0.0.1", "dir": "DIR", "dovecot_log": "DIR/logs/dovecot.log",
     "oauth": false, "startup_seconds": 0.4}

(about 0.25 s after start here), and keeps running until SIGTERM, SIGINT or SIGHUP, or until its parent process
dies; then it stops Dovecot and the SMTP server (and they stop by themselves
should this script be SIGKILLed: they carry a parent-death signal) and leaves
every file in DIR in place. Errors go to stderr with a non-zero exit. Without
--dir it makes DIR under /tmp (and leaves it too).

User names are lower-cased (Dovecot's default auth_username_format %Lu); the
default user is inbox@trust.test with password "secret".

Other sub-commands:

    python3 scripts/mail_peers.py deliver --dir DIR --user NAME FILE.eml [...]
        Drops each file ("-" = stdin) into DIR/mail/NAME/ the Maildir way:
        written to tmp/ under a unique name, fsynced, renamed into new/. A
        running Dovecot sees it at once: a client in IDLE on INBOX gets
        "* N EXISTS" within about half a second (inotify on new/, with a
        1-second poll as fallback), and NOOP / SEARCH / STATUS see it too.
        Prints the new file's path. As root it gives the file to the user
        Dovecot runs as; a test writing into new/ itself must leave the file
        readable by that user and rename it in from tmp/.
    python3 scripts/mail_peers.py token --oauth-key BASE64 --sub NAME
        [--ttl 600] [--iss ISS] [--aud AUD] [--scope SCOPE]
        Prints a JWT that the oauth2 passdb accepts (see make_token()).

Run as root, Dovecot refuses to give mail access to uid 0, so the whole of
Dovecot then runs as an unprivileged user (--run-as, default: the owner of
DIR if that is not root, else "nobody"); the script chowns what it creates in
DIR to that user and adds the search (x) bit to DIR so that user can reach it
(DIR's parents must be searchable too; it says so if they are not). Run as
any other user, everything runs as that user.

Installing what it needs (Debian 12):
    apt-get install -y dovecot-imapd python3-aiosmtpd
python3-aiosmtpd lives under /usr/bin/python3; when the python running this
script cannot import aiosmtpd, the SMTP server is run with /usr/bin/python3
(or --smtp-python PATH); `python3 -m pip install aiosmtpd` into the python
that runs the script is the other way (checked here with Debian's 1.4.3).
The script itself uses only the standard library.
"""

import argparse
import base64
import hashlib
import hmac
import itertools
import json
import os
import pwd
import grp
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
DEFAULT_USER = "inbox@trust.test:secret"
DEBIAN_PYTHON = "/usr/bin/python3"
INSTALL_HINT = "apt-get install -y dovecot-imapd python3-aiosmtpd"
# Longest socket name Dovecot makes under base_dir ("token-login/tokenlogin",
# "imap-urlauth-worker") plus margin; sun_path holds 107 bytes.
MAX_BASE_DIR = 80


class Fail(Exception):
    """A clear error for stderr, then a non-zero exit."""


# ---------------------------------------------------------------- helpers --

def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_key(text):
    """The --oauth-key value: standard or URL-safe base64, padding optional."""
    t = text.strip()
    t += "=" * (-len(t) % 4)
    try:
        key = base64.b64decode(t.replace("-", "+").replace("_", "/"), validate=True)
    except Exception as e:  # binascii.Error
        raise Fail(f"--oauth-key is not base64: {e}") from None
    if not key:
        raise Fail("--oauth-key decodes to an empty key")
    return key


def make_token(key, sub, ttl=600, iss=None, aud=None, scope=None, alg="HS256",
               extra=None, now=None):
    """A JWT that Dovecot 2.3's oauth2 passdb with local validation accepts.

    What Dovecot 2.3.19 checks (src/lib-oauth2/oauth2-jwt.c, src/auth/db-oauth2.c):
      * header: "typ": "JWT" (required) and "alg" HS256/HS384/HS512; no "kid"
        (a kid or an "azp" claim changes which key file it looks up:
        keys/<azp|default>/<ALG>/<kid|default>);
      * signature: HMAC over "header.payload" (base64url, no padding) with
        the --oauth-key bytes;
      * "sub": required, and must equal the login user (case-insensitively):
        the passdb runs with username_attribute = sub;
      * "exp": required (seconds since the epoch, or ISO 8601), not past;
        "nbf"/"iat", when present, not in the future;
      * "iss": only if the peers were started with --oauth-issuer, then it
        must be one of them;
      * "aud" (a string or an array): only if started with --oauth-audience,
        then it must contain that value (Dovecot's client_id setting);
      * "scope" (a string of space-separated words): only if started with
        --oauth-scope, then the claim must be present and hold every word of
        it, spelt exactly; "aud" does not stand in for a missing scope
        (Debian's 2.3.19.1+dfsg1-2.1+deb12u7 has the newer JWT checks of
        2.3.21 backported, CVE-2026-73208 and CVE-2026-40205);
      * nothing else (no "active" claim needed: active_attribute is off).
    The user must also exist in the passwd file (--user) for the userdb.
    """
    now = int(time.time()) if now is None else int(now)
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
              "HS512": hashlib.sha512}[alg]
    claims = {"sub": sub, "iat": now, "exp": now + int(ttl)}
    if iss is not None:
        claims["iss"] = iss
    if aud is not None:
        claims["aud"] = aud
    if scope is not None:
        claims["scope"] = scope
    if extra:
        claims.update(extra)
    header = _b64url(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    sig = _b64url(hmac.new(key, signing_input, digest).digest())
    return f"{header}.{payload}.{sig}"


def xoauth2_response(user, token):
    """The SASL XOAUTH2 client response (before base64)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def oauthbearer_response(user, token, host=HOST, port=143):
    """The SASL OAUTHBEARER (RFC 7628) client response (before base64).
    Dovecot 2.3 needs the a=<user> authzid in the GS2 header."""
    user_esc = user.replace("=", "=3D").replace(",", "=2C")
    return f"n,a={user_esc},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01".encode()


def parse_user(spec):
    name, sep, password = spec.partition(":")
    name = name.strip().lower()
    if not sep or not name or not password:
        raise Fail(f"--user wants NAME:PASSWORD, got {spec!r}")
    for ch in ":/\n\r\t\0 ":
        if ch in name:
            raise Fail(f"user name {name!r} must not contain {ch!r}")
    for ch in ":\n\r\0":
        if ch in password:
            raise Fail(f"the password of {name} must not contain {ch!r} (passwd-file)")
    if name.startswith("."):
        raise Fail(f"user name {name!r} must not start with '.'")
    return name, password


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def find_dovecot():
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin:/usr/local/sbin"
    exe = shutil.which("dovecot", path=path)
    if exe is None:
        raise Fail(f"dovecot is not installed: {INSTALL_HINT}")
    return exe


def dovecot_version(exe):
    try:
        return subprocess.run([exe, "--version"], capture_output=True, text=True,
                              timeout=20).stdout.strip()
    except Exception:
        return "?"


def python_with_aiosmtpd(explicit=None):
    """An interpreter that can import aiosmtpd: --smtp-python, this one, or
    Debian's /usr/bin/python3 (python3-aiosmtpd)."""
    candidates = [explicit] if explicit else [sys.executable, DEBIAN_PYTHON]
    seen = set()
    for py in candidates:
        if not py or py in seen or not os.path.exists(py):
            continue
        seen.add(py)
        if py == sys.executable:
            try:
                import aiosmtpd  # noqa: F401
                return py
            except ImportError:
                continue
        r = subprocess.run([py, "-c", "import aiosmtpd"], capture_output=True)
        if r.returncode == 0:
            return py
    if explicit:
        raise Fail(f"{explicit} cannot import aiosmtpd")
    raise Fail("aiosmtpd is not installed: apt-get install -y python3-aiosmtpd "
               f"(for {DEBIAN_PYTHON}) or {sys.executable} -m pip install aiosmtpd")


def _load_prctl():
    # Resolved here, in the parent: the child may already have dropped to a
    # user that cannot read this python's files, so it must not import.
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True).prctl
    except Exception:
        return None


_PRCTL = _load_prctl()


def _libc_prctl_pdeathsig(sig):
    if _PRCTL is not None:
        _PRCTL(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG


def _child_setup(uid, gid, parent_pid):
    """preexec_fn: drop to uid/gid when root, then die with the parent."""
    def setup():
        if os.geteuid() == 0 and uid != 0:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        # after any credential change: a uid change clears the death signal
        _libc_prctl_pdeathsig(signal.SIGTERM)
        if os.getppid() != parent_pid:
            os._exit(1)
    return setup


def _child_env():
    env = dict(os.environ)
    # never let Dovecot think it is socket-activated by systemd
    for k in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET"):
        env.pop(k, None)
    return env


def _tail(path, n=30):
    try:
        with open(path, "r", errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


# ---------------------------------------------------------------- Maildir --

_deliver_seq = itertools.count()


def _maildir_owner(dir_):
    """(uid, gid) to give new Maildir files when we are root, else None."""
    if os.geteuid() != 0:
        return None
    st = os.stat(os.path.join(dir_, "mail"))
    if st.st_uid == 0:
        return None
    return st.st_uid, st.st_gid


def ensure_maildir(dir_, user, owner=None):
    """DIR/mail/<user>/{cur,new,tmp}, owned like DIR/mail when root."""
    root = os.path.join(dir_, "mail", user)
    for p in (root, *(os.path.join(root, s) for s in ("cur", "new", "tmp"))):
        if not os.path.isdir(p):
            os.makedirs(p, mode=0o700, exist_ok=True)
            if owner:
                os.chown(p, *owner)
    return root


def deliver(dir_, user, data):
    """Put one message (bytes) into the INBOX of `user` the Maildir way;
    returns the path in new/. Dovecot, if running, notices it at once."""
    user = user.strip().lower()
    if not os.path.isdir(os.path.join(dir_, "mail")):
        raise Fail(f"{dir_}/mail does not exist: start the peers with --dir {dir_} first")
    owner = _maildir_owner(dir_)
    root = ensure_maildir(dir_, user, owner)
    now = time.time()
    host = socket.gethostname().replace("/", "\\057").replace(":", "\\072") or "localhost"
    name = "%d.M%dP%dQ%dR%s.%s" % (int(now), int((now % 1) * 1e6), os.getpid(),
                                   next(_deliver_seq), os.urandom(8).hex(), host)
    tmp = os.path.join(root, "tmp", name)
    new = os.path.join(root, "new", name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        if owner:
            os.fchown(fd, *owner)
    finally:
        os.close(fd)
    os.rename(tmp, new)
    return new


# ------------------------------------------------------------ SMTP server --

def smtp_serve(args):
    """Internal: the aiosmtpd server (run by `serve` in its own process)."""
    import asyncio
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

    out = os.path.join(args.dir, "smtp-out")
    os.makedirs(out, exist_ok=True)
    seq = itertools.count(1)
    auth_user = auth_pass = None
    if args.smtp_auth:
        auth_user, _, auth_pass = args.smtp_auth.partition(":")

    def write_atomic(path, data):
        tmp = os.path.join(out, ".tmp-" + os.path.basename(path))
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)

    def text(v):
        return v.decode("utf-8", "replace") if isinstance(v, bytes) else v

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            t = time.time()
            stem = "%s.%06d-%06d" % (time.strftime("%Y%m%dT%H%M%S", time.gmtime(t)),
                                     int((t % 1) * 1e6), next(seq))
            content = envelope.original_content
            if content is None:
                content = envelope.content
            if isinstance(content, str):
                content = content.encode("utf-8", "surrogateescape")
            user = None
            if getattr(session, "authenticated", False):
                ad = getattr(session, "auth_data", None)
                user = text(getattr(ad, "login", None)) if ad is not None else None
            meta = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "mail_options": list(envelope.mail_options or []),
                "rcpt_options": list(envelope.rcpt_options or []),
                "auth_user": user,
                "peer": list(session.peer) if session.peer else None,
                "helo": session.host_name,
                "received_at": t,
                "eml": stem + ".eml",
            }
            write_atomic(os.path.join(out, stem + ".json"),
                         (json.dumps(meta, indent=1) + "\n").encode())
            write_atomic(os.path.join(out, stem + ".eml"), content)
            return "250 2.0.0 OK saved as " + stem

    def authenticator(server, session, envelope, mechanism, auth_data):
        if (isinstance(auth_data, LoginPassword)
                and auth_data.login == auth_user.encode()
                and auth_data.password == auth_pass.encode()):
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    kwargs = dict(hostname="mail-peers.test", ident="mail-peers aiosmtpd",
                  enable_SMTPUTF8=True, decode_data=False,
                  data_size_limit=64 * 1024 * 1024)
    if auth_user is not None:
        kwargs.update(authenticator=authenticator, auth_require_tls=False,
                      auth_required=bool(args.smtp_require_auth))

    async def main():
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(s, stop.set)
        server = await loop.create_server(lambda: SMTP(Handler(), **kwargs),
                                          host=HOST, port=args.port)
        ppid = os.getppid()
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except asyncio.TimeoutError:
                if os.getppid() != ppid:
                    break
        server.close()
        await server.wait_closed()

    import logging
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main())
    return 0


# ----------------------------------------------------------- Dovecot conf --

def dovecot_conf(d, base_dir, imap_port, uid, gid, oauth):
    auth_mechs = "plain login" + (" oauthbearer xoauth2" if oauth else "")
    oauth_passdb = ""
    if oauth:
        oauth_passdb = f"""passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {d}/etc/dovecot-oauth2.conf.ext
}}
"""
    return f"""# written by scripts/mail_peers.py; everything lives under {d}
base_dir = {base_dir}
state_dir = {d}/state
instance_name = mail-peers-{imap_port}
log_path = {d}/logs/dovecot.log
protocols = imap
listen = {HOST}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = {auth_mechs}
auth_verbose = yes
auth_failure_delay = 0
default_internal_user = {uid_name(uid)}
default_internal_group = {gid_name(gid)}
default_login_user = {uid_name(uid)}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{d}/mail/%u
mailbox_idle_check_interval = 1 secs
mail_max_userip_connections = 1000

{oauth_passdb}passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {d}/etc/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/etc/passwd
  default_fields = uid={uid} gid={gid} home={d}/home/%u
}}

service imap-login {{
  chroot =
  inet_listener imap {{
    address = {HOST}
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
  # no growing delays after failed logins (tests fail logins on purpose)
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service auth-worker {{
  user = $default_internal_user
}}
"""


def uid_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        raise Fail(f"uid {uid} has no name in /etc/passwd; Dovecot needs one") from None


def gid_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        raise Fail(f"gid {gid} has no name in /etc/group; Dovecot needs one") from None


def run_as_ids(args, d):
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    name = args.run_as
    if not name:
        st = os.stat(d)
        if st.st_uid != 0:
            return st.st_uid, st.st_gid
        name = "nobody"
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        raise Fail(f"--run-as user {name!r} does not exist") from None
    if pw.pw_uid == 0:
        raise Fail("Dovecot will not give mail access to root: pick a --run-as user other than root")
    return pw.pw_uid, pw.pw_gid


def check_reachable(d, uid, gid):
    """As root: can uid/gid reach and write DIR/mail? (forks, drops, tries)"""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            probe = os.path.join(d, "mail", ".reach-%d" % os.getpid())
            os.mkdir(probe)
            os.rmdir(probe)
            os.listdir(os.path.join(d, "etc"))
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise Fail(f"user {uid_name(uid)} (Dovecot runs as it since we are root) cannot reach "
                   f"{d}/mail: make every parent of {d} searchable (chmod o+x) or pass --run-as")


# ------------------------------------------------------------------ serve --

class Stop(Exception):
    pass


class Peers:
    def __init__(self, args):
        self.args = args
        self.procs = []          # (name, Popen)
        self.tmp_base = None     # a short base_dir we made under /tmp
        self.stopping = False

    # -- lifecycle
    def stop(self):
        for name, p in self.procs:
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 8
        for name, p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []
        if self.tmp_base:
            shutil.rmtree(self.tmp_base, ignore_errors=True)
            self.tmp_base = None

    def check_children(self):
        for name, p in self.procs:
            if p.poll() is not None:
                return name, p.returncode
        return None

    # -- start
    def prepare_dir(self):
        a = self.args
        users = [parse_user(u) for u in (a.user or [DEFAULT_USER])]
        names = [u for u, _ in users]
        if len(set(names)) != len(names):
            raise Fail("the same --user is given twice")
        self.users = users
        self.oauth_key = decode_key(a.oauth_key) if a.oauth_key else None
        d = os.path.abspath(a.dir) if a.dir else tempfile.mkdtemp(prefix="mail-peers-")
        os.makedirs(d, exist_ok=True)
        self.dir = d
        for sub in ("etc", "run", "state", "logs", "mail", "home", "keys", "smtp-out"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        self.uid, self.gid = run_as_ids(a, d)

        with open(os.path.join(d, "etc", "passwd"), "w") as f:
            for name, pw_ in users:
                f.write(f"{name}:{{PLAIN}}{pw_}::::::\n")
        if self.oauth_key is not None:
            b64 = base64.b64encode(self.oauth_key).decode()
            for alg in ("HS256", "HS384", "HS512"):
                kd = os.path.join(d, "keys", "default", alg)
                os.makedirs(kd, exist_ok=True)
                with open(os.path.join(kd, "default"), "w") as f:
                    f.write(b64)
            lines = [
                "introspection_mode = local",
                f"local_validation_key_dict = fs:posix:prefix={d}/keys/",
                "username_attribute = sub",
                "active_attribute =",
                "active_value =",
            ]
            if a.oauth_issuer:
                lines.append("issuers = " + " ".join(a.oauth_issuer))
            if a.oauth_audience:
                lines.append("client_id = " + a.oauth_audience)
            if a.oauth_scope:
                # the JWT check splits on spaces and commas, the passdb's own
                # scope check on spaces only: give it spaces
                lines.append("scope = " + " ".join(a.oauth_scope.replace(",", " ").split()))
            with open(os.path.join(d, "etc", "dovecot-oauth2.conf.ext"), "w") as f:
                f.write("\n".join(lines) + "\n")

        base_dir = os.path.join(d, "run")
        if len(base_dir) > MAX_BASE_DIR:
            self.tmp_base = tempfile.mkdtemp(prefix="mail-peers-", dir="/tmp")
            base_dir = self.tmp_base
        self.base_dir = base_dir

        owner = None
        if os.geteuid() == 0:
            owner = (self.uid, self.gid)
            chown_trees = [os.path.join(d, s) for s in
                           ("etc", "run", "state", "logs", "mail", "home", "keys")]
            if self.tmp_base:
                chown_trees.append(self.tmp_base)
            for top in chown_trees:
                for root, dirs, files in os.walk(top):
                    os.chown(root, *owner)
                    for f in files:
                        os.chown(os.path.join(root, f), *owner, follow_symlinks=False)
            mode = os.stat(d).st_mode
            if mode & 0o001 == 0:
                os.chmod(d, (mode & 0o7777) | 0o711)
            check_reachable(d, self.uid, self.gid)
        for name, _ in users:
            ensure_maildir(d, name, owner)

    def start_dovecot(self, exe):
        d = self.dir
        log = os.path.join(d, "logs", "dovecot.log")
        err = os.path.join(d, "logs", "dovecot.stderr")
        last = ""
        for attempt in range(5):
            port = free_port()
            conf = os.path.join(d, "etc", "dovecot.conf")
            with open(conf, "w") as f:
                f.write(dovecot_conf(d, self.base_dir, port, self.uid, self.gid,
                                     self.oauth_key is not None))
            if os.geteuid() == 0:
                os.chown(conf, self.uid, self.gid)
            log_start = os.path.getsize(log) if os.path.exists(log) else 0
            with open(err, "wb") as ef:
                p = subprocess.Popen([exe, "-F", "-c", conf], stdin=subprocess.DEVNULL,
                                     stdout=ef, stderr=ef, cwd=d, env=_child_env(),
                                     preexec_fn=_child_setup(self.uid, self.gid, os.getpid()))
            self.procs.append(("dovecot", p))
            ok, why = self.wait_imap(p, port)
            if ok:
                self.imap_port = port
                return
            self.procs.remove(("dovecot", p))
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            new_log = ""
            try:
                with open(log, "r", errors="replace") as f:
                    f.seek(log_start)
                    new_log = f.read()
            except OSError:
                pass
            last = (why + "\n" + _tail(err) + new_log[-4000:]).strip()
            if "Address already in use" not in last:
                break
        raise Fail(f"dovecot did not start ({exe} -F -c {d}/etc/dovecot.conf):\n{last}")

    def wait_imap(self, p, port):
        """Greeting, then a real LOGIN of the first user."""
        import imaplib
        deadline = time.monotonic() + self.args.timeout
        last = "no connection"
        while time.monotonic() < deadline:
            if self.stopping:
                raise Stop()
            if p.poll() is not None:
                return False, f"dovecot exited with code {p.returncode}"
            try:
                m = imaplib.IMAP4(HOST, port, timeout=5)
            except OSError as e:
                last = f"connect: {e}"
                time.sleep(0.05)
                continue
            try:
                name, pw_ = self.users[0]
                m.login(name, pw_)
                m.logout()
                return True, ""
            except Exception as e:
                last = f"IMAP LOGIN {name} failed: {e}"
                try:
                    m.shutdown()
                except Exception:
                    pass
                time.sleep(0.2)
        return False, f"timed out after {self.args.timeout}s: {last}"

    def start_smtp(self, py):
        d = self.dir
        last = ""
        for attempt in range(5):
            port = free_port()
            cmd = [py, os.path.abspath(__file__), "smtp-serve", "--dir", d, "--port", str(port)]
            if self.args.smtp_auth:
                cmd += ["--smtp-auth", self.args.smtp_auth]
            if self.args.smtp_require_auth:
                cmd.append("--smtp-require-auth")
            errpath = os.path.join(d, "logs", "smtp.stderr")
            with open(errpath, "wb") as ef:
                p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=ef, stderr=ef,
                                     cwd=d, env=_child_env(),
                                     preexec_fn=_child_setup(os.geteuid(), os.getegid(), os.getpid()))
            self.procs.append(("smtp", p))
            deadline = time.monotonic() + self.args.timeout
            while time.monotonic() < deadline:
                if self.stopping:
                    raise Stop()
                if p.poll() is not None:
                    break
                try:
                    with socket.create_connection((HOST, port), timeout=5) as s:
                        s.settimeout(5)
                        greeting = s.recv(512)
                        if greeting.startswith(b"220"):
                            s.sendall(b"QUIT\r\n")
                            self.smtp_port = port
                            return
                except OSError:
                    time.sleep(0.05)
            self.procs.remove(("smtp", p))
            if p.poll() is None:
                p.kill()
                p.wait()
            last = _tail(errpath)
            if "address already in use" not in last.lower():
                break
        raise Fail(f"the SMTP server did not start ({' '.join(cmd)}):\n{last}")


def serve(args):
    t0 = time.monotonic()
    exe = find_dovecot()
    py = python_with_aiosmtpd(args.smtp_python)
    if args.smtp_auth and ":" not in args.smtp_auth:
        raise Fail("--smtp-auth wants USER:PASS")
    if args.smtp_require_auth and not args.smtp_auth:
        raise Fail("--smtp-require-auth needs --smtp-auth USER:PASS")
    if (args.oauth_issuer or args.oauth_scope or args.oauth_audience) and not args.oauth_key:
        raise Fail("--oauth-issuer/--oauth-audience/--oauth-scope need --oauth-key")

    peers = Peers(args)
    orig_ppid = os.getppid()

    def on_signal(signum, frame):
        peers.stopping = True

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)
    try:
        peers.prepare_dir()
        peers.start_smtp(py)
        peers.start_dovecot(exe)
        d = peers.dir
        line = {
            "imap_port": peers.imap_port,
            "smtp_port": peers.smtp_port,
            "maildir_root": os.path.join(d, "mail"),
            "smtp_out": os.path.join(d, "smtp-out"),
            "users": [u for u, _ in peers.users],
            "host": HOST,
            "dir": d,
            "dovecot_log": os.path.join(d, "logs", "dovecot.log"),
            "oauth": peers.oauth_key is not None,
            "startup_seconds": round(time.monotonic() - t0, 3),
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        while not peers.stopping:
            time.sleep(0.2)
            if orig_ppid != 1 and os.getppid() != orig_ppid:
                break  # our parent died
            dead = peers.check_children()
            if dead and not peers.stopping:
                name, rc = dead
                hint = _tail(os.path.join(d, "logs", "dovecot.log" if name == "dovecot"
                                          else "smtp.stderr"))
                raise Fail(f"{name} exited unexpectedly (code {rc}):\n{hint}")
        return 0
    except Stop:
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        peers.stop()


# ------------------------------------------------------------------- main --

def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv.insert(0, "serve")
    ap = argparse.ArgumentParser(prog="mail_peers.py",
                                 description="Real IMAP (Dovecot) and SMTP (aiosmtpd) servers on loopback.")
    sub = ap.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("serve", help="start the servers (default)")
    s.add_argument("--dir", help="directory for config, state, logs and mail "
                   "(default: a new one under /tmp, left in place)")
    s.add_argument("--user", action="append", metavar="NAME:PASSWORD",
                   help=f"an IMAP user (repeatable; default {DEFAULT_USER})")
    s.add_argument("--smtp-auth", metavar="USER:PASS",
                   help="offer AUTH PLAIN/LOGIN on SMTP and accept this user")
    s.add_argument("--smtp-require-auth", action="store_true",
                   help="with --smtp-auth: refuse MAIL FROM before AUTH")
    s.add_argument("--oauth-key", metavar="BASE64",
                   help="enable XOAUTH2/OAUTHBEARER with JWTs HMAC-signed by this key")
    s.add_argument("--oauth-issuer", action="append", metavar="ISS",
                   help="accept only tokens whose iss is one of these (repeatable)")
    s.add_argument("--oauth-audience", metavar="AUD",
                   help="accept only tokens whose aud contains AUD")
    s.add_argument("--oauth-scope", metavar="SCOPE",
                   help="accept only tokens whose scope claim has every (space-separated) word of SCOPE")
    s.add_argument("--run-as", metavar="USER",
                   help="when root: the user Dovecot runs as (default: DIR's owner, else nobody)")
    s.add_argument("--smtp-python", metavar="PATH",
                   help="python that has aiosmtpd (default: this one, else /usr/bin/python3)")
    s.add_argument("--timeout", type=float, default=30.0,
                   help="seconds to wait for each server to come up (default 30)")

    dl = sub.add_parser("deliver", help="drop messages into a user's Maildir INBOX")
    dl.add_argument("--dir", required=True)
    dl.add_argument("--user", default=DEFAULT_USER.split(":")[0])
    dl.add_argument("files", nargs="+", metavar="FILE", help="message files; - for stdin")

    tk = sub.add_parser("token", help="print a JWT the oauth2 passdb accepts")
    tk.add_argument("--oauth-key", required=True, metavar="BASE64")
    tk.add_argument("--sub", default=DEFAULT_USER.split(":")[0])
    tk.add_argument("--ttl", type=int, default=600, help="seconds until exp (negative: expired)")
    tk.add_argument("--iss")
    tk.add_argument("--aud")
    tk.add_argument("--scope")
    tk.add_argument("--alg", default="HS256", choices=["HS256", "HS384", "HS512"])

    ss = sub.add_parser("smtp-serve", help=argparse.SUPPRESS)
    ss.add_argument("--dir", required=True)
    ss.add_argument("--port", type=int, required=True)
    ss.add_argument("--smtp-auth")
    ss.add_argument("--smtp-require-auth", action="store_true")

    args = ap.parse_args(argv)
    try:
        if args.cmd == "serve":
            return serve(args)
        if args.cmd == "deliver":
            for f in args.files:
                data = sys.stdin.buffer.read() if f == "-" else open(f, "rb").read()
                print(deliver(os.path.abspath(args.dir), args.user, data))
            return 0
        if args.cmd == "token":
            print(make_token(decode_key(args.oauth_key), args.sub, ttl=args.ttl, iss=args.iss,
                             aud=args.aud, scope=args.scope, alg=args.alg))
            return 0
        if args.cmd == "smtp-serve":
            return smtp_serve(args)
    except Fail as e:
        print(f"mail_peers: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"mail_peers: error: {e}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
