//! `gbau pki create`: a test CA and the certificates the TLS links need (BSF's Zn server,
//! NAFs, NAF Key Center, external devices). For tests and the demo: keys are written
//! unencrypted, readable by the owner only.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// What went wrong creating certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation: {0}")]
    Gen(#[from] rcgen::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Files of one issued certificate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Issued {
    pub name: String,
    pub role: Role,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn write(path: &Path, data: &str, private: bool) -> Result<(), PkiError> {
    let err = |source| PkiError::Write {
        path: path.display().to_string(),
        source,
    };
    // A key file is owner-only from its creation (mode given to open, whatever the umask);
    // an old file of that name is replaced, never written through (no symlink followed).
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(e)),
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(path)
        .map_err(err)?;
    f.write_all(data.as_bytes()).map_err(err)
}

/// The role a certificate is issued for: its only extended key usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A TLS server (the BSF's Zn, a NAF's Ua over HTTPS, the Key Center): serverAuth only.
    Server,
    /// A TLS client (a NAF or the Key Center on Zn, an external device): clientAuth only.
    Client,
}

/// One name to issue for: `server:NAME`, `client:NAME`, or a bare `NAME` for both roles (two
/// certificates, as a NAF or the Key Center needs: it serves and it is a Zn client).
pub fn parse_spec(spec: &str) -> Vec<(Role, String)> {
    match spec.split_once(':') {
        Some(("server", n)) => vec![(Role::Server, n.to_owned())],
        Some(("client", n)) => vec![(Role::Client, n.to_owned())],
        _ => vec![
            (Role::Server, spec.to_owned()),
            (Role::Client, spec.to_owned()),
        ],
    }
}

/// Files of `name`'s certificate for `role`: `NAME.pem`/`NAME.key` for its first role,
/// `NAME.client.pem`/`NAME.client.key` for the client certificate of a name that also has
/// a server one.
fn file_stem(name: &str, role: Role, both: bool) -> String {
    let safe = name.replace(
        |c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '-',
        "_",
    );
    if both && role == Role::Client {
        format!("{safe}.client")
    } else {
        safe
    }
}

/// Create `dir/ca.pem` (+ key) and the certificates `specs` name (see [`parse_spec`]). Each
/// certificate carries only its own name (one DNS subject alternative name, no `localhost`,
/// no address) and only its role's extended key usage, so no key can serve in another role
/// or pose as another party: a NAF's client key cannot pose as the BSF's Zn server or the
/// Key Center. Clients on loopback reach servers by name (`--resolve`).
pub fn create(dir: &Path, specs: &[String]) -> Result<Vec<Issued>, PkiError> {
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(dir)
        .map_err(|source| PkiError::Write {
            path: dir.display().to_string(),
            source,
        })?;
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "gbau test CA (not for production)");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key)?;
    write(&dir.join("ca.pem"), &ca.pem(), false)?;
    write(&dir.join("ca.key"), &ca_key.serialize_pem(), true)?;
    let mut out = Vec::new();
    for spec in specs {
        let roles = parse_spec(spec);
        let both = roles.len() > 1;
        for (role, name) in roles {
            let key = KeyPair::generate()?;
            let mut p = CertificateParams::new(vec![name.clone()])?;
            p.distinguished_name.push(DnType::CommonName, name.as_str());
            p.extended_key_usages = vec![match role {
                Role::Server => ExtendedKeyUsagePurpose::ServerAuth,
                Role::Client => ExtendedKeyUsagePurpose::ClientAuth,
            }];
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            let cert = p.signed_by(&key, &ca, &ca_key)?;
            let stem = file_stem(&name, role, both);
            let (c, k) = (
                dir.join(format!("{stem}.pem")),
                dir.join(format!("{stem}.key")),
            );
            write(&c, &cert.pem(), false)?;
            write(&k, &key.serialize_pem(), true)?;
            out.push(Issued {
                name,
                role,
                cert: c,
                key: k,
            });
        }
    }
    Ok(out)
}
