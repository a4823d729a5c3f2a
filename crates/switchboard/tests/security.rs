//! A trust's security review, as tests against the real server binary
//! (issue 21): the data directory's permissions, TLS, connection limits
//! and idle timeouts, outbound requests only where allowed.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// On main the database was created 0644 in a 0755 folder: readable by
/// every local user. Now the folder is 0700, the database and its WAL
/// 0600, keys 0600; a database an older version left readable is made
/// private at start.
#[test]
fn data_files_are_readable_by_the_server_user_only() {
    let (data, addr, server) = fresh("perms");
    // A write, so the WAL exists.
    create_contact(addr, r#"{"queue":1}"#);
    assert_eq!(mode(&data), 0o700, "the data folder");
    for f in ["switchboard.db", "switchboard.db-wal", "keys/device.key"] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    assert_eq!(mode(&data.join("keys")), 0o700);
    stop(server);
    std::fs::set_permissions(
        data.join("switchboard.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let server = start(&data, addr);
    assert_eq!(
        mode(&data.join("switchboard.db")),
        0o600,
        "made private again"
    );
    kill(server, &data);
}

/// A self-signed certificate for 127.0.0.1 and localhost, made by the
/// openssl command, with `cn` as its subject; written to `dir`.
fn make_cert(dir: &Path, cn: &str) {
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .args(["-days", "2", "-subj", &format!("/CN={cn}")])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// curl over HTTPS, trusting only our certificate: (status, head, body).
fn curl(addr: SocketAddr, dir: &Path, args: &[&str], path: &str) -> (u16, String, String) {
    let out = std::process::Command::new("curl")
        .args(["-s", "-i", "--max-time", "10", "--cacert"])
        .arg(dir.join("cert.pem"))
        .args(args)
        .arg(format!("https://{addr}{path}"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_lowercase(), body.to_string())
}

/// The subject of the certificate the server presents now.
fn presented_subject(addr: SocketAddr) -> String {
    let s_client = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            "localhost",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .expect("openssl s_client");
    let mut x509 = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-subject"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    x509.stdin
        .take()
        .unwrap()
        .write_all(&s_client.stdout)
        .unwrap();
    String::from_utf8_lossy(&x509.wait_with_output().unwrap().stdout).to_string()
}

fn signal(server: &std::process::Child, sig: &str) {
    std::process::Command::new("kill")
        .args([sig, &server.id().to_string()])
        .status()
        .unwrap();
}

/// On main there was no TLS: the session cookie could not be `Secure`.
/// Now the server speaks HTTPS itself (curl, trusting only our
/// certificate, is the client), sets `__Host-` Secure cookies and HSTS,
/// redirects plain HTTP to https://, reads a renewed certificate on
/// SIGHUP and keeps the old one when the new files are bad; a bad key at
/// start is a clear error.
#[test]
fn https_with_secure_cookies_hsts_a_redirect_and_certificates_renewed_on_sighup() {
    let data = std::env::temp_dir().join(format!("sb-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let certs = data.with_extension("certs");
    let _ = std::fs::remove_dir_all(&certs);
    std::fs::create_dir_all(&certs).unwrap();
    make_cert(&certs, "switchboard-test-one");
    let serve = |extra: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
        c.args([
            "serve",
            "--demo",
            "--demo-calls-per-minute",
            "0",
            "--sip",
            "off",
            "--data",
        ])
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
        c
    };
    // A missing key is named at start.
    let out = serve(&[
        "--tls-cert",
        certs.join("cert.pem").to_str().unwrap(),
        "--tls-key",
        "/nonexistent/key.pem",
    ])
    .output()
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--tls-key /nonexistent/key.pem"), "{err}");

    let mut server = serve(&[
        "--tls-cert",
        certs.join("cert.pem").to_str().unwrap(),
        "--tls-key",
        certs.join("key.pem").to_str().unwrap(),
    ])
    .spawn()
    .unwrap();
    let addr = listening(&mut server);
    let t0 = std::time::Instant::now();
    while curl(addr, &certs, &[], "/healthz").0 != 200 {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "no HTTPS"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let body = r#"{"username":"kent.supervisor","password":"switchboard-demo"}"#;
    let (s, head, _) = curl(
        addr,
        &certs,
        &["-H", "content-type: application/json", "-d", body],
        "/api/v1/session",
    );
    assert_eq!(s, 200, "{head}");
    assert!(
        head.contains("set-cookie: __host-sb_session=")
            && head.contains("; path=/; secure; httponly; samesite=strict"),
        "{head}"
    );
    assert!(head.contains("set-cookie: __host-sb_device="), "{head}");
    assert!(
        head.contains("strict-transport-security: max-age=31536000"),
        "{head}"
    );
    // Plain HTTP on the same port: sent to https://.
    let (s, head, _) = http_with(addr, "GET", "/wallboard?x=1", None, "").unwrap();
    assert_eq!(s, 308, "{head}");
    assert!(
        head.contains(&format!("Location: https://{addr}/wallboard?x=1")),
        "{head}"
    );
    // A renewed certificate is read on SIGHUP ...
    assert!(presented_subject(addr).contains("switchboard-test-one"));
    make_cert(&certs, "switchboard-test-two");
    signal(&server, "-HUP");
    let t0 = std::time::Instant::now();
    while !presented_subject(addr).contains("switchboard-test-two") {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(10),
            "not reloaded"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // ... and a broken one is refused, the one in use kept.
    std::fs::write(certs.join("cert.pem"), "not a certificate").unwrap();
    signal(&server, "-HUP");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(presented_subject(addr).contains("switchboard-test-two"));
    assert_eq!(
        curl(addr, &certs, &["--cacert", "/dev/null"], "/healthz").0,
        0,
        "an untrusted certificate fails"
    );
    kill(server, &data);
    let _ = std::fs::remove_dir_all(&certs);
}

/// Whether the server closed the connection (EOF or reset) within `wait`.
fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut b = [0u8; 4096];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// On main 2,000 idle connections were held for ever. Now an idle
/// connection is closed after --http-idle-timeout, one address may hold
/// only so many connections, the server only so many in all; a live
/// stream is not idle and stays.
#[test]
fn idle_connections_are_closed_and_connections_are_limited() {
    let data = std::env::temp_dir().join(format!("sb-conns-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let (server, addr) = start_any(
        &data,
        &[
            "--http-idle-timeout",
            "2",
            "--max-connections-per-address",
            "8",
        ],
    );
    // A live stream, subscribed before the idle ones fill the address's share.
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /api/v1/kpis/stream HTTP/1.1\r\nHost: {addr}\r\n{}\r\n",
        auth_header(addr)
    )
    .unwrap();
    let mut idle: Vec<TcpStream> = (0..7).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // The ninth connection from this address is closed at once.
    let mut ninth = TcpStream::connect(addr).unwrap();
    assert!(
        closed_within(&mut ninth, Duration::from_millis(1500)),
        "the ninth was kept"
    );
    // A connection that sent a request and then went quiet, and the ones
    // that never sent anything, are closed after the idle timeout.
    for s in &mut idle {
        assert!(
            closed_within(s, Duration::from_secs(6)),
            "an idle connection was kept"
        );
    }
    // The stream is still open (not idle: a response in progress).
    assert!(
        !closed_within(&mut stream, Duration::from_millis(500)),
        "the live stream was cut"
    );
    // Requests work again, and a keep-alive connection goes after its request.
    let mut ka = TcpStream::connect(addr).unwrap();
    write!(ka, "GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let t0 = std::time::Instant::now();
    assert!(closed_within(&mut ka, Duration::from_secs(6)));
    assert!(
        t0.elapsed() >= Duration::from_millis(1500),
        "closed before the idle timeout"
    );
    drop(stream);
    kill(server, &data);

    // In all: at most --max-connections.
    let (server, addr) = start_any(&data, &["--max-connections", "4"]);
    let _held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut fifth = TcpStream::connect(addr).unwrap();
    assert!(
        closed_within(&mut fifth, Duration::from_millis(1500)),
        "the fifth was kept"
    );
    kill(server, &data);
}

/// On main an admin could point referrals (with NHS numbers) at loopback
/// or the cloud metadata address, and delivery errors echoed what
/// answered. Now endpoints must be HTTPS to public addresses unless the
/// operator allow-lists a host; a refused change changes nothing.
#[test]
fn referral_endpoints_must_be_public_https() {
    let (data, addr, server) = fresh("ssrf");
    kill(server, Path::new("/nonexistent"));
    // The example directory (a pharmacy on a high street among others).
    import_example_directory(&data, false);
    let server = start(&data, addr);
    let admin = login(addr, "kent.admin", DEMO_PASSWORD).unwrap();
    let (s, _, list) = http_with(
        addr,
        "GET",
        "/api/v1/dos/services?q=high%20street",
        None,
        &admin,
    )
    .unwrap();
    assert_eq!(s, 200, "{list}");
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let id = list["services"][0]["id"].as_u64().expect("a demo pharmacy");
    let service = format!("/api/v1/dos/services/{id}");
    let put = |url: &str| {
        let body = format!(r#"{{"url":"{url}"}}"#);
        let path = format!("{service}/endpoint");
        let (s, _, b) = http_with(addr, "PUT", &path, Some(&body), &admin).unwrap();
        (s, b)
    };
    for (url, says) in [
        (
            "https://169.254.169.254/latest/meta-data/",
            "not a public address",
        ),
        ("https://127.0.0.1:8080/", "not a public address"),
        ("https://[::1]/r", "not a public address"),
        ("https://10.1.2.3/r", "not a public address"),
        ("https://localhost/r", "is this machine"),
        ("http://uec.example.nhs.uk/r", "plain http://"),
        (
            "https://me:secret@uec.example.nhs.uk/r",
            "no user name or password",
        ),
    ] {
        let (s, b) = put(url);
        assert_eq!(s, 422, "{url}: {b}");
        assert!(b.contains(says), "{url}: {b}");
    }
    let (s, b) = put("https://uec.example.nhs.uk/referrals");
    assert_eq!(s, 200, "{b}");
    let (s, _, b) = http_with(addr, "GET", &service, None, &admin).unwrap();
    assert_eq!(s, 200, "{b}");
    assert!(b.contains("https://uec.example.nhs.uk/referrals"), "{b}");
    // The refused ones left nothing behind.
    assert!(!b.contains("169.254") && !b.contains("127.0.0.1"), "{b}");
    kill(server, &data);
}

fn verify(data: &Path) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["audit", "verify", "--data", data.to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// On main, deleting the last 40 rows of the audit log left `audit
/// verify` saying "intact": what is left is still a valid chain. Now the
/// server checkpoints the chain's head, signed, outside the database, and
/// verify finds the cut (and a chain rewritten to the end, and a forged
/// checkpoint).
#[test]
fn cutting_the_end_off_the_audit_log_is_found() {
    let (data, addr, server) = fresh("anchor");
    let admin = login(addr, "kent.admin", DEMO_PASSWORD).unwrap();
    // 45 audited changes: integration tokens made.
    for i in 0..45 {
        let body = format!(r#"{{"name":"t{i}","scopes":["contacts"]}}"#);
        let (s, _, b) = http_with(addr, "POST", "/api/v1/tokens", Some(&body), &admin).unwrap();
        assert_eq!(s, 201, "{b}");
    }
    stop(server);
    let (ok, text) = verify(&data);
    assert!(ok, "{text}");
    assert!(text.contains("reaches the checkpoint of record"), "{text}");
    // A copy with the last 40 records cut off.
    let cut = data.with_extension("cut");
    let _ = std::fs::remove_dir_all(&cut);
    std::fs::create_dir_all(cut.join("keys")).unwrap();
    for f in [
        "switchboard.db",
        "audit-anchors.log",
        "keys/audit-anchor.key",
    ] {
        std::fs::copy(data.join(f), cut.join(f)).unwrap();
    }
    let db = rusqlite::Connection::open(cut.join("switchboard.db")).unwrap();
    let last: i64 = db
        .query_row("SELECT MAX(seq) FROM audit_log", [], |r| r.get(0))
        .unwrap();
    assert!(last > 45, "{last}");
    db.execute("DELETE FROM audit_log WHERE seq > ?1", [last - 40])
        .unwrap();
    drop(db);
    let (ok, text) = verify(&cut);
    assert!(!ok, "a cut tail passed: {text}");
    assert!(
        text.contains(&format!(
            "audit log cut: it ends at record {}, but the checkpoint of",
            last - 40
        )) && text.contains("40 records are missing from the end"),
        "{text}"
    );
    // A forged checkpoint line (the key is not the forger's).
    let anchors = cut.join("audit-anchors.log");
    let mut text = std::fs::read_to_string(&anchors).unwrap();
    text.push_str(&format!(
        "v1 {} {} 0 {}\n",
        last + 5,
        "a".repeat(64),
        "b".repeat(64)
    ));
    std::fs::write(&anchors, text).unwrap();
    let (ok, text) = verify(&cut);
    assert!(
        !ok && text.contains("not signed with this server's checkpoint key"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&cut);
    let _ = std::fs::remove_dir_all(&data);
}

fn post_json(
    addr: SocketAddr,
    path: &str,
    body: &serde_json::Value,
    headers: &str,
) -> (u16, String, serde_json::Value) {
    let (s, head, b) = http_with(addr, "POST", path, Some(&body.to_string()), headers).unwrap();
    (
        s,
        head,
        serde_json::from_str(&b).unwrap_or(serde_json::Value::Null),
    )
}

/// On main there was no second factor (DSPT 4.5.3 makes it mandatory).
/// Now: an admin requires it of a role; a supervisor logging in with a
/// password alone gets a ticket, sets up an authenticator (oathtool stands
/// in for the phone's app) and is in; a code is never accepted twice; a
/// code one step ahead is (clock drift); a recovery code works once;
/// wrong codes are throttled like wrong passwords; an admin's reset ends
/// the sessions and the next log-in sets one up again. Tokens never log in
/// and are unaffected.
#[test]
fn mfa_with_an_authenticator_app_and_a_policy_per_role() {
    use serde_json::json;
    let (data, addr, server) = fresh("mfa");
    let admin = login(addr, "kent.admin", DEMO_PASSWORD).unwrap();
    let put =
        |body: &str| http_with(addr, "PUT", "/api/v1/mfa-policy", Some(body), &admin).unwrap();
    let (s, _, b) = put(r#"{"roles":["supervisor","integration"]}"#);
    assert_eq!(s, 422, "{b}");
    assert!(
        b.contains("roles[1]: integration tokens never log in"),
        "{b}"
    );
    let (s, _, b) = put(r#"{"roles":["supervisor"]}"#);
    assert_eq!(s, 200, "{b}");
    let password = json!({"username": "kent.supervisor", "password": DEMO_PASSWORD});
    // The password alone: no session, a ticket to set one up.
    let (s, head, v) = post_json(addr, "/api/v1/session", &password, "");
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["mfa"], "enrol", "{v}");
    assert!(
        !head.contains("sb_session="),
        "a session before the second factor: {head}"
    );
    let ticket = v["ticket"].as_str().unwrap().to_string();
    let (s, _, e) = post_json(
        addr,
        "/api/v1/session/mfa/enrol",
        &json!({"ticket": ticket}),
        "",
    );
    assert_eq!(s, 200, "{e}");
    let secret = e["secret"].as_str().unwrap().to_string();
    assert!(
        e["uri"].as_str().unwrap().starts_with(&format!(
            "otpauth://totp/Switchboard:kent.supervisor?secret={secret}&"
        )),
        "{e}"
    );
    // A wrong code first, then the app's code: in, with recovery codes.
    let step = |ticket: &str, code: &str| {
        post_json(
            addr,
            "/api/v1/session/mfa",
            &json!({"ticket": ticket, "code": code}),
            "",
        )
    };
    let (s, _, v) = step(&ticket, "000000");
    assert_eq!(s, 401, "{v}");
    let code = oathtool(&secret, "now");
    let (s, head, v) = step(&ticket, &code);
    assert_eq!(s, 200, "{v}");
    let recovery: Vec<String> = v["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().into())
        .collect();
    assert_eq!(recovery.len(), 10);
    // The authenticator's secret is sealed at rest, not stored as it is.
    let db = rusqlite::Connection::open(data.join("switchboard.db")).unwrap();
    let stored: Vec<String> = db
        .prepare("SELECT secret FROM mfa_totp")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].starts_with("sealed1:"), "{stored:?}");
    drop(db);
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: sb_session="))
        .and_then(|c| c.split(';').next())
        .map(|c| format!("Cookie: sb_session={c}\r\n"))
        .expect("a session");
    let (s, _, b) = http_with(addr, "GET", "/api/v1/me/mfa", None, &cookie).unwrap();
    assert_eq!(s, 200, "{b}");
    assert!(
        b.contains(r#""enabled":true"#)
            && b.contains(r#""recovery_codes_left":10"#)
            && b.contains(r#""required":true"#),
        "{b}"
    );
    // Next log-in: a code; the one just used is refused, the next step's accepted.
    let next_ticket = || {
        let (s, _, v) = post_json(addr, "/api/v1/session", &password, "");
        assert_eq!((s, v["mfa"].as_str()), (200, Some("code")), "{v}");
        v["ticket"].as_str().unwrap().to_string()
    };
    let t = next_ticket();
    let (s, _, v) = step(&t, &code);
    assert_eq!(s, 401, "a used code was accepted again: {v}");
    let (s, _, v) = step(&t, &oathtool(&secret, "now + 30 seconds"));
    assert_eq!(s, 200, "one step of drift: {v}");
    // A recovery code, once.
    let t = next_ticket();
    assert_eq!(step(&t, &recovery[0].to_uppercase()).0, 200);
    assert_eq!(step(&t, &recovery[0]).0, 401, "a recovery code twice");
    // A forged ticket is refused.
    let forged = t.replacen(".", ".9", 1);
    assert_eq!(step(&forged, &oathtool(&secret, "now + 60 seconds")).0, 401);
    // Wrong codes count like wrong passwords: strangers are slowed.
    let t = next_ticket();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(step(&t, "123456").0);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    // An admin resets the lost phone: the session ends, and the next
    // log-in sets one up again.
    let (s, _, me) = http_with(addr, "GET", "/api/v1/session", None, &cookie).unwrap();
    assert_eq!(s, 200);
    let me: serde_json::Value = serde_json::from_str(&me).unwrap();
    let uid = me["user"].as_u64().unwrap();
    let (s, _, b) = http_with(
        addr,
        "DELETE",
        &format!("/api/v1/users/{uid}/mfa"),
        None,
        &admin,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        http_with(addr, "GET", "/api/v1/me/mfa", None, &cookie)
            .unwrap()
            .0,
        401
    );
    // Integration tokens never log in, and still work.
    let (s, _, tok) = post_json(
        addr,
        "/api/v1/tokens",
        &json!({"name": "gp", "scopes": ["contacts"]}),
        &admin,
    );
    assert_eq!(s, 201, "{tok}");
    let bearer = format!(
        "Authorization: Bearer {}\r\n",
        tok["secret"].as_str().unwrap()
    );
    assert_eq!(
        http_with(addr, "GET", "/api/v1/contacts", None, &bearer)
            .unwrap()
            .0,
        200
    );
    stop(server);
    let rows = audit_rows(&data, "mfa");
    assert!(
        rows.iter().any(|r| r.3 == "ok: authenticator confirmed"),
        "{rows:?}"
    );
    assert!(audit_rows(&data, "reset mfa").len() == 1);
    let _ = std::fs::remove_dir_all(&data);
}

/// On main free-text wrap-up notes were impossible: nothing was encrypted
/// at rest. Now an agent's notes are sealed under a key of their own,
/// wrapped under the key-encryption key given apart from the data
/// (SWITCHBOARD_KEK): the database holds no word of them, every read is
/// audited with the patient, a server with another key cannot open them
/// (and says so), and deleting them deletes their key.
#[test]
fn wrap_up_notes_are_sealed_at_rest_and_every_read_is_audited() {
    use serde_json::json;
    let data = std::env::temp_dir().join(format!("sb-notes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let kek = "5a".repeat(32);
    std::env::set_var("SWITCHBOARD_KEK", &kek);
    let (server, addr) = start_any(&data, &[]);
    assert!(
        !data.join("keys/notes.kek").exists(),
        "the given key, not one made in the data folder"
    );
    // A patient calls and is identified; the agent takes the call.
    let sup = auth_header(addr);
    let (s, _, b) = http_with(addr, "PUT", "/api/v1/patients/9990000018", Some(&json!({"name": "Kent Testpatient", "date_of_birth": "1980-01-01", "phones": ["07700 900111"]}).to_string()), &sup).unwrap();
    assert!(s < 300 || s == 403, "{s} {b}");
    let (id, _) = create_contact(
        addr,
        &json!({"queue": 2, "caller_number": "07700 900111", "nhs_number": "9990000018"})
            .to_string(),
    );
    let agent = login(addr, "kent.agent", DEMO_PASSWORD).unwrap();
    let post = |path: &str, body: serde_json::Value, who: &str| {
        http_with(addr, "POST", path, Some(&body.to_string()), who).unwrap()
    };
    assert_eq!(
        post(
            "/api/v1/agents/1/presence",
            json!({"presence": "ready"}),
            &agent
        )
        .0,
        200
    );
    assert_eq!(
        post(
            &format!("/api/v1/contacts/{id}/accept"),
            json!({"agent": 1}),
            &agent
        )
        .0,
        200
    );
    assert_eq!(
        post(
            &format!("/api/v1/contacts/{id}/end"),
            json!({"agent": 1}),
            &agent
        )
        .0,
        200
    );
    // Bad notes are refused naming the field, and nothing is written.
    let (s, _, b) = post(
        &format!("/api/v1/contacts/{id}/wrap-up-done"),
        json!({"agent": 1, "outcome": "resolved", "notes": "bell\u{7}"}),
        &agent,
    );
    assert_eq!(s, 422, "{b}");
    assert!(b.contains("notes: no control characters"), "{b}");
    let (s, _, b) = post(
        &format!("/api/v1/contacts/{id}/wrap-up-done"),
        json!({"agent": 1, "notes": "no outcome"}),
        &agent,
    );
    assert_eq!(s, 422, "{b}");
    let words = "Lives alone; daughter Zephyrine is the carer, call her after two";
    let (s, _, b) = post(
        &format!("/api/v1/contacts/{id}/wrap-up-done"),
        json!({"agent": 1, "outcome": "advice_given", "notes": words}),
        &agent,
    );
    assert_eq!(s, 200, "{b}");
    // Read back by the supervisor.
    let (s, _, b) = http_with(
        addr,
        "GET",
        &format!("/api/v1/contacts/{id}/notes"),
        None,
        &sup,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["notes"][0]["text"], words);
    assert_eq!(v["notes"][0]["agent"], 1);
    stop(server);
    // No word of it in the database files.
    for f in ["switchboard.db", "switchboard.db-wal"] {
        if let Ok(bytes) = std::fs::read(data.join(f)) {
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains("Zephyrine") && !text.contains("daughter"),
                "{f} holds the note in clear"
            );
        }
    }
    let reads: Vec<_> = audit_rows(&data, "read notes");
    assert_eq!(reads.len(), 1, "{reads:?}");
    let db = rusqlite::Connection::open(data.join("switchboard.db")).unwrap();
    let patient: Option<String> = db
        .query_row(
            "SELECT patient FROM audit_log WHERE action = 'read notes'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        patient.as_deref(),
        Some("9990000018"),
        "the read names the patient"
    );
    drop(db);
    // Another key: the notes do not open, and the answer says why.
    std::env::set_var("SWITCHBOARD_KEK", "a5".repeat(32));
    let server = start(&data, addr);
    let (s, _, b) = http_with(
        addr,
        "GET",
        &format!("/api/v1/contacts/{id}/notes"),
        None,
        &auth_header(addr),
    )
    .unwrap();
    assert_eq!(s, 500, "{b}");
    assert!(b.contains("key-encryption key"), "{b}");
    stop(server);
    // The right key again; a supervisor deletes the notes (and their keys).
    std::env::set_var("SWITCHBOARD_KEK", &kek);
    let server = start(&data, addr);
    let sup = auth_header(addr);
    let (s, _, b) = http_with(
        addr,
        "DELETE",
        &format!("/api/v1/contacts/{id}/notes"),
        None,
        &sup,
    )
    .unwrap();
    assert_eq!(s, 200, "{b}");
    assert!(b.contains(r#""deleted":1"#), "{b}");
    let (_, _, b) = http_with(
        addr,
        "GET",
        &format!("/api/v1/contacts/{id}/notes"),
        None,
        &sup,
    )
    .unwrap();
    assert!(b.contains(r#""notes":[]"#), "{b}");
    std::env::remove_var("SWITCHBOARD_KEK");
    kill(server, &data);
}

/// On main anyone who may read patients could look any patient up, for
/// no reason, and nothing marked it. Now reading a record with no live
/// contact about the patient needs a reason (break-glass), is flagged,
/// and the auditor sees it, with a report of unusual access.
#[test]
fn reading_a_patient_with_no_contact_breaks_the_glass_and_the_auditor_sees_it() {
    use serde_json::json;
    let (data, addr, server) = fresh("glass");
    let admin = login(addr, "kent.admin", DEMO_PASSWORD).unwrap();
    let (s, _, b) = http_with(
        addr,
        "POST",
        "/api/v1/tokens",
        Some(r#"{"name":"ehr","scopes":["patients"]}"#),
        &admin,
    )
    .unwrap();
    assert_eq!(s, 201, "{b}");
    let secret = serde_json::from_str::<serde_json::Value>(&b).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let ehr = format!("Authorization: Bearer {secret}\r\n");
    let patients = ["9990000018", "9990000026", "9990000034"];
    for (i, nhs) in patients.iter().enumerate() {
        let body = json!({"nhs_number": nhs, "name": format!("Test Patient{i}"), "date_of_birth": "1961-04-12", "phones": [format!("07700 90012{i}")]});
        let (s, _, b) = http_with(
            addr,
            "PUT",
            &format!("/api/v1/patients/{nhs}"),
            Some(&body.to_string()),
            &ehr,
        )
        .unwrap();
        assert_eq!(s, 201, "{b}");
    }
    let agent = login(addr, "kent.agent", DEMO_PASSWORD).unwrap();
    let read = |who: &str, query: &str| {
        let (s, _, b) = http_with(
            addr,
            "GET",
            &format!("/api/v1/patients/9990000018{query}"),
            None,
            who,
        )
        .unwrap();
        (s, b)
    };
    // No contact about the patient: refused, saying how.
    let (s, b) = read(&agent, "");
    assert_eq!(s, 403, "{b}");
    assert!(b.contains(r#""code":"break_glass_required""#), "{b}");
    let (s, b) = read(&agent, "?break_glass=because");
    assert_eq!(s, 400, "{b}");
    assert!(
        b.contains("break_glass: a reason of 10 to 500 characters"),
        "{b}"
    );
    let (s, b) = read(
        &agent,
        "?break_glass=GP%20surgery%20asked%20for%20a%20check%20by%20phone",
    );
    assert_eq!(s, 200, "{b}");
    // A live contact about the patient, with the agent: direct care, no glass.
    let post = |path: &str, body: serde_json::Value, who: &str| {
        http_with(addr, "POST", path, Some(&body.to_string()), who).unwrap()
    };
    assert_eq!(
        post(
            "/api/v1/agents/1/presence",
            json!({"presence": "ready"}),
            &agent
        )
        .0,
        200
    );
    let (id, _) = create_contact(
        addr,
        &json!({"queue": 2, "nhs_number": "9990000018"}).to_string(),
    );
    assert_eq!(
        post(
            &format!("/api/v1/contacts/{id}/accept"),
            json!({"agent": 1}),
            &agent
        )
        .0,
        200
    );
    let (s, b) = read(&agent, "");
    assert_eq!(s, 200, "{b}");
    // But not another patient.
    let (s, _, _) = http_with(addr, "GET", "/api/v1/patients/9990000026", None, &agent).unwrap();
    assert_eq!(s, 403);
    // The supervisor looks up three patients, breaking the glass each time.
    let sup = auth_header(addr);
    for nhs in &patients[1..] {
        let (s, _, b) = http_with(
            addr,
            "GET",
            &format!("/api/v1/patients/{nhs}?break_glass=checking%20a%20complaint%20file"),
            None,
            &sup,
        )
        .unwrap();
        assert_eq!(s, 200, "{b}");
    }
    // The auditor's reviews.
    let auditor = login(addr, "kent.auditor", DEMO_PASSWORD).unwrap();
    let (s, _, b) = http_with(addr, "GET", "/api/v1/audit/break-glass", None, &auditor).unwrap();
    assert_eq!(s, 200, "{b}");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    let glass = v["records"].as_array().unwrap();
    assert_eq!(glass.len(), 3, "{b}");
    assert!(
        glass
            .iter()
            .any(|r| r["actor"].as_str().unwrap().contains("kent.agent")
                && r["purpose"] == "break-glass: GP surgery asked for a check by phone"
                && r["patient"] == "9990000018"),
        "{b}"
    );
    let (s, _, b) = http_with(addr, "GET", "/api/v1/audit/unusual?many=1", None, &auditor).unwrap();
    assert_eq!(s, 200, "{b}");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    let of = |who: &str| {
        v["access"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["actor"].as_str().unwrap().contains(who))
            .cloned()
            .unwrap_or_else(|| panic!("{who} not in {v}"))
    };
    let sup_row = of("kent.supervisor");
    let flags = sup_row["flags"].to_string();
    assert!(
        flags.contains("read 2 patients' records (more than 1)")
            && flags.contains("2 break-glass reads"),
        "{sup_row}"
    );
    assert!(of("kent.agent")["flags"]
        .to_string()
        .contains("1 break-glass reads"));
    // Not for other roles.
    assert_eq!(
        http_with(addr, "GET", "/api/v1/audit/unusual", None, &sup)
            .unwrap()
            .0,
        403
    );
    kill(server, &data);
}

/// On main there were no metrics to watch the service by. Now `/metrics`
/// (off without a token) answers a scraper holding its own token, and
/// nobody else (a person's session is not it): queue depth, requests by
/// route template (an NHS number in a path never becomes a label), log
/// commits, the outbox.
#[test]
fn metrics_answer_a_scraper_with_its_own_token_and_name_no_patient() {
    let data = std::env::temp_dir().join(format!("sb-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let token_file = data.with_extension("token");
    // Too short a token is refused at start.
    std::fs::write(&token_file, "short").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "serve",
            "--sip",
            "off",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--metrics-token-file",
            token_file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the metrics token: at least 32 characters")
    );
    let token = "m3tr1cs-".repeat(5);
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let (server, addr) = start_any(
        &data,
        &["--metrics-token-file", token_file.to_str().unwrap()],
    );
    create_contact(addr, r#"{"queue":2}"#);
    let sup = auth_header(addr);
    let _ = http_with(
        addr,
        "GET",
        "/api/v1/patients/9990000018?break_glass=looking%20for%20a%20label",
        None,
        &sup,
    )
    .unwrap();
    assert_eq!(http_with(addr, "GET", "/metrics", None, "").unwrap().0, 401);
    assert_eq!(
        http_with(addr, "GET", "/metrics", None, &sup).unwrap().0,
        401,
        "a session is not the token"
    );
    assert_eq!(
        http_with(
            addr,
            "GET",
            "/metrics",
            None,
            "Authorization: Bearer not-the-token\r\n"
        )
        .unwrap()
        .0,
        401
    );
    let (s, head, text) = http_with(
        addr,
        "GET",
        "/metrics",
        None,
        &format!("Authorization: Bearer {token}\r\n"),
    )
    .unwrap();
    assert_eq!(s, 200, "{text}");
    assert!(
        head.to_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    for want in [
        "switchboard_queue_waiting{org=\"1\",queue=\"2\"} 1",
        "switchboard_offers_total{org=\"1\"} 0",
        "switchboard_http_requests_total{route=\"/api/v1/contacts\",status=\"2xx\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == want),
            "missing {want:?} in\n{text}"
        );
    }
    assert!(
        text.contains("switchboard_http_requests_total{route=\"/api/v1/patients/{nhs_number}\","),
        "by the route's template: {text}"
    );
    assert!(
        text.lines().any(
            |l| l.starts_with("switchboard_log_commit_duration_seconds_count ")
                && l != "switchboard_log_commit_duration_seconds_count 0"
        ),
        "{text}"
    );
    assert!(!text.contains("9990000018"), "an NHS number in the metrics");
    // Every sample line is NAME{labels} VALUE or NAME VALUE, and every family has its TYPE.
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = l.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{l}");
        let family = name.split('{').next().unwrap();
        let base = family
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        assert!(
            text.contains(&format!("# TYPE {base} "))
                || text.contains(&format!("# TYPE {family} ")),
            "{l}: no TYPE"
        );
    }
    kill(server, &data);
    let _ = std::fs::remove_file(&token_file);
}
