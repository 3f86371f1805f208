//! An archive sealed for the trip: encrypted with age
//! (<https://age-encryption.org/v1>, the `age` crate) to the firm's X25519
//! public keys only, into a staged file whose size and SHA-256 are known
//! before the upload starts — so that an upload cut or killed resumes
//! sending the very same bytes, and the server's copy can be checked
//! against them. `age -d -i key.txt < B<CODE>.SVG.age > B<CODE>.SVG` gives
//! the archive back, byte for byte, with the standard `age` or `rage`.
//!
//! Also the way back: an identity file read, an object decrypted.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// The firm's public keys, parsed.
pub type Recipients = Vec<age::x25519::Recipient>;

/// Reads `offsite.recipients`: `age1…` X25519 public keys (what
/// `age-keygen` prints as "public key"). Errors: the French reason, naming
/// the key.
pub fn parse_recipients(keys: &[String]) -> Result<Recipients, String> {
    keys.iter()
        .map(|k| {
            age::x25519::Recipient::from_str(k.trim()).map_err(|e| {
                format!("« {k} » n'est pas une clé publique age X25519 (age1…, ce qu'affiche age-keygen) : {e}")
            })
        })
        .collect()
}

/// Who a staged copy is encrypted to, as the catalog records it with an
/// upload under way: `plain`, or `age:` and the SHA-256 of the sorted
/// public keys. An upload is resumed only when this is still what the
/// settings say (a key added or removed, or `allow_plain` changed, means
/// a new copy).
pub fn sealed_for(recipients: &Recipients) -> String {
    if recipients.is_empty() {
        return "plain".into();
    }
    let mut keys: Vec<String> = recipients.iter().map(|r| r.to_string()).collect();
    keys.sort();
    format!(
        "age:{}",
        hex::encode(Sha256::digest(keys.join("\n").as_bytes()))
    )
}

/// A staged file ready to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
}

/// A writer that hashes and counts what goes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    size: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Seals `archive` into `staged`: encrypted to `recipients`, or a plain
/// copy when there are none (`allow_plain`). Written to `<staged>.tmp`
/// (never a name ending in `.SVG.partial`, which a run takes for one of its
/// own leftovers), flushed, then renamed — retried while another program
/// (an antivirus) holds the new file (`sys::replace`): a `staged` file is
/// always whole.
pub fn seal(archive: &Path, staged: &Path, recipients: &Recipients) -> io::Result<Sealed> {
    let mut partial = staged.as_os_str().to_owned();
    partial.push(".tmp");
    let partial = PathBuf::from(partial);
    let result = (|| {
        let mut input = BufReader::with_capacity(1 << 20, File::open(archive)?);
        // Owner-only, as the archives (`sys::owner_only`).
        let out = crate::sys::owner_only::replace(&partial)?;
        let mut hashing = Hashing {
            inner: io::BufWriter::with_capacity(1 << 20, out),
            hash: Sha256::new(),
            size: 0,
        };
        if recipients.is_empty() {
            io::copy(&mut input, &mut hashing)?;
        } else {
            let encryptor = age::Encryptor::with_recipients(
                recipients.iter().map(|r| r as &dyn age::Recipient),
            )
            .map_err(io::Error::other)?;
            let mut writer = encryptor.wrap_output(&mut hashing)?;
            io::copy(&mut input, &mut writer)?;
            writer.finish()?;
        }
        let Hashing { inner, hash, size } = hashing;
        let file = inner.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok::<_, io::Error>((size, hex::encode(hash.finalize())))
    })();
    let (size, sha256) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = fs::remove_file(&partial);
            return Err(e);
        }
    };
    crate::sys::replace::replace(&partial, staged).map_err(|e| match e {
        crate::sys::replace::ReplaceError::Io(e) => e,
        crate::sys::replace::ReplaceError::Held(h) => io::Error::other(format!(
            "{} est tenu ouvert par un autre programme{} (réessayé pendant {} s)",
            staged.display(),
            if h.holders.is_empty() {
                String::new()
            } else {
                format!(" ({})", h.holders.join(", "))
            },
            h.waited.as_secs()
        )),
    })?;
    Ok(Sealed {
        path: staged.to_owned(),
        size,
        sha256,
    })
}

/// The hex SHA-256 and size of a file's bytes.
pub fn sha256_of(path: &Path) -> io::Result<(String, u64)> {
    let mut f = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut hash = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    let mut size = 0;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok((hex::encode(hash.finalize()), size));
        }
        hash.update(&buf[..n]);
        size += n as u64;
    }
}

/// The private keys of an age identity file (`age-keygen -o key.txt`).
pub struct Identities(Vec<Box<dyn age::Identity + Send + Sync>>);

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identities({} clé(s))", self.0.len())
    }
}

/// Reads an age identity file. Errors: the French reason, naming the file
/// (never its content).
pub fn read_identities(path: &Path) -> Result<Identities, String> {
    let text = path.display();
    let file = age::IdentityFile::from_file(path.to_string_lossy().into_owned())
        .map_err(|e| format!("{text} : clé privée age illisible : {e}"))?;
    let ids = file
        .into_identities()
        .map_err(|e| format!("{text} : clé privée age illisible : {e}"))?;
    if ids.is_empty() {
        return Err(format!(
            "{text} : aucune clé privée age (AGE-SECRET-KEY-1…) dans ce fichier"
        ));
    }
    Ok(Identities(ids))
}

/// Decrypts the age file `input` into `out` with `ids`. Errors: the French
/// reason (no key of the file opens it, damaged data).
pub fn unseal(input: impl Read, ids: &Identities, out: &mut dyn Write) -> Result<u64, String> {
    let decryptor = age::Decryptor::new_buffered(BufReader::with_capacity(1 << 20, input))
        .map_err(|e| format!("pas un fichier age lisible : {e}"))?;
    let mut reader = decryptor
        .decrypt(ids.0.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => {
                "aucune des clés privées données n'ouvre cette copie (chiffrée pour d'autres destinataires)".to_owned()
            }
            e => format!("déchiffrement impossible : {e}"),
        })?;
    io::copy(&mut reader, out).map_err(|e| format!("copie altérée ou tronquée : {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_copies_open_with_the_private_key_only() {
        let d = tempfile::tempdir().unwrap();
        let archive = d.path().join("BX.SVG");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        fs::write(&archive, &data).unwrap();
        let key = age::x25519::Identity::generate();
        let other = age::x25519::Identity::generate();
        let recipients = parse_recipients(&[key.to_public().to_string()]).unwrap();
        let staged = d.path().join("BX.SVG.age");
        let sealed = seal(&archive, &staged, &recipients).unwrap();
        assert_eq!(
            sha256_of(&staged).unwrap(),
            (sealed.sha256.clone(), sealed.size)
        );
        assert!(!d.path().join("BX.SVG.age.tmp").exists());

        use age::secrecy::ExposeSecret;
        let idfile = d.path().join("key.txt");
        fs::write(&idfile, key.to_string().expose_secret()).unwrap();
        let ids = read_identities(&idfile).unwrap();
        let mut back = Vec::new();
        unseal(File::open(&staged).unwrap(), &ids, &mut back).unwrap();
        assert_eq!(back, data);

        let wrong = d.path().join("other.txt");
        fs::write(&wrong, other.to_string().expose_secret()).unwrap();
        let e = unseal(
            File::open(&staged).unwrap(),
            &read_identities(&wrong).unwrap(),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(e.contains("aucune des clés"), "{e}");

        let e = parse_recipients(&["age1nope".into()]).unwrap_err();
        assert!(e.contains("age1nope"), "{e}");
    }
}
