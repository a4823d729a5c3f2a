//! A trust's security review, as tests against the real server binary
//! (issue 21): what the data directory lets other local users read.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

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
