//! Secrets kept in files: created once with random bytes, readable by the
//! server's user only (0600, in a 0700 folder).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and its parents) if needed; a folder we create is
/// private to the server's user (0700).
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// The 32-byte key in `path`, made (random, 0600) if the file does not
/// exist yet. A file of another size is an error, not replaced.
pub fn key_file(path: &Path) -> Result<[u8; 32], String> {
    let shown = path.display();
    if let Some(parent) = path.parent() {
        private_dir(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    match std::fs::read(path) {
        Ok(bytes) => {
            let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                format!(
                    "{shown}: a key file holds 32 bytes, this one {}",
                    bytes.len()
                )
            })?;
            let mode = std::fs::metadata(path)
                .map_err(|e| format!("{shown}: {e}"))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| format!("{shown}: cannot make it private: {e}"))?;
            }
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = crate::auth::random_bytes::<32>();
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| format!("cannot create {shown}: {e}"))?;
            f.write_all(&key)
                .and_then(|()| f.sync_all())
                .map_err(|e| format!("cannot write {shown}: {e}"))?;
            Ok(key)
        }
        Err(e) => Err(format!("cannot read {shown}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_private_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("sb-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("keys/device.key");
        let k = key_file(&path).unwrap();
        assert_eq!(key_file(&path).unwrap(), k, "read back, not replaced");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.join("keys")), 0o700);
        std::fs::write(&path, b"short").unwrap();
        let e = key_file(&path).unwrap_err();
        assert!(e.contains("holds 32 bytes, this one 5"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
