//! HTTP Digest authentication as GBA uses it: Digest AKAv1-MD5 on Ub (RFC 3310, TS 24.109
//! §5) and plain MD5 Digest on Ua (RFC 2617 / 7616 with the NAF key as the password).
//! Header parsing and formatting, and the response and rspauth computations.

use md5::{Digest as _, Md5};

/// The algorithm token of Digest AKA version 1 (RFC 3310 §3.1).
pub const ALGORITHM_AKAV1_MD5: &str = "AKAv1-MD5";
/// Plain MD5 Digest.
pub const ALGORITHM_MD5: &str = "MD5";
/// Integrity-protected quality of protection.
pub const QOP_AUTH_INT: &str = "auth-int";
/// Quality of protection without body integrity.
pub const QOP_AUTH: &str = "auth";
/// Longest header value the parser accepts.
pub const MAX_HEADER_LEN: usize = 8192;

/// A malformed Digest header.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("not a Digest header")]
    NotDigest,
    #[error("Digest header longer than {MAX_HEADER_LEN} bytes")]
    TooLong,
    #[error("malformed Digest parameter at byte {0}")]
    Malformed(usize),
    #[error("Digest parameter {0:?} appears twice")]
    Duplicate(String),
    #[error("Digest parameter {0:?} is missing")]
    Missing(&'static str),
}

/// The parameters of a Digest challenge or credentials, in order, names lower-cased.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// A parameter's value.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter that must be present.
    pub fn require(&self, name: &'static str) -> Result<&str, DigestError> {
        self.get(name).ok_or(DigestError::Missing(name))
    }
}

/// Parse `Digest k=v, k="v", ...` (RFC 7235 auth-param syntax). Never panics.
pub fn parse(header: &str) -> Result<Params, DigestError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(DigestError::TooLong);
    }
    let trimmed = header.trim_start();
    let rest = match trimmed.get(..6) {
        Some(s) if s.eq_ignore_ascii_case("digest") => &trimmed[6..],
        _ => return Err(DigestError::NotDigest),
    };
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return Err(DigestError::NotDigest);
    }
    let base = header.len() - rest.len();
    let bytes = rest.as_bytes();
    let mut i = 0;
    let mut out: Vec<(String, String)> = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < bytes.len() && (bytes[*i] == b' ' || bytes[*i] == b'\t') {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        while i < bytes.len() && bytes[i] == b',' {
            i += 1;
            skip_ws(&mut i);
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || b"-_".contains(&bytes[i])) {
            i += 1;
        }
        if i == start {
            return Err(DigestError::Malformed(base + i));
        }
        let name = rest[start..i].to_ascii_lowercase();
        skip_ws(&mut i);
        if i >= bytes.len() || bytes[i] != b'=' {
            return Err(DigestError::Malformed(base + i));
        }
        i += 1;
        skip_ws(&mut i);
        let value = if i < bytes.len() && bytes[i] == b'"' {
            i += 1;
            let mut v = Vec::new();
            loop {
                match bytes.get(i) {
                    None => return Err(DigestError::Malformed(base + i)),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let c = *bytes.get(i + 1).ok_or(DigestError::Malformed(base + i))?;
                        v.push(c);
                        i += 2;
                    }
                    Some(c) => {
                        v.push(*c);
                        i += 1;
                    }
                }
            }
            String::from_utf8(v).map_err(|_| DigestError::Malformed(base + i))?
        } else {
            let s = i;
            while i < bytes.len() && bytes[i] != b',' && bytes[i] != b' ' && bytes[i] != b'\t' {
                i += 1;
            }
            rest[s..i].to_owned()
        };
        if out.iter().any(|(n, _)| *n == name) {
            return Err(DigestError::Duplicate(name));
        }
        out.push((name, value));
        skip_ws(&mut i);
        if i < bytes.len() && bytes[i] != b',' {
            return Err(DigestError::Malformed(base + i));
        }
    }
    Ok(Params(out))
}

/// Format `Digest name="value", ...`; `unquoted` names are written bare (algorithm, qop in
/// credentials, nc, stale).
#[must_use]
pub fn format(params: &[(&str, &str)], unquoted: &[&str]) -> String {
    let parts: Vec<String> = params
        .iter()
        .map(|(n, v)| {
            if unquoted.contains(n) {
                format!("{n}={v}")
            } else {
                format!("{n}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
            }
        })
        .collect();
    format!("Digest {}", parts.join(", "))
}

fn md5_hex(parts: &[&[u8]]) -> String {
    let mut h = Md5::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// The inputs of a Digest response (RFC 2617 §3.2.2).
#[derive(Clone, Debug)]
pub struct Response<'a> {
    pub username: &'a str,
    pub realm: &'a str,
    /// The password as octets: RES for AKAv1 (RFC 3310 §3.3), base64(Ks_NAF) text on Ua.
    pub password: &'a [u8],
    pub method: &'a str,
    pub uri: &'a str,
    pub nonce: &'a str,
    pub nc: &'a str,
    pub cnonce: &'a str,
    pub qop: &'a str,
    /// The entity body, hashed for auth-int.
    pub body: &'a [u8],
}

impl Response<'_> {
    fn ha1(&self) -> String {
        md5_hex(&[
            self.username.as_bytes(),
            self.realm.as_bytes(),
            self.password,
        ])
    }

    fn ha2(&self, method: &str) -> String {
        if self.qop == QOP_AUTH_INT {
            let body = hex::encode(Md5::digest(self.body));
            md5_hex(&[method.as_bytes(), self.uri.as_bytes(), body.as_bytes()])
        } else {
            md5_hex(&[method.as_bytes(), self.uri.as_bytes()])
        }
    }

    fn combine(&self, ha2: &str) -> String {
        if self.qop.is_empty() {
            md5_hex(&[self.ha1().as_bytes(), self.nonce.as_bytes(), ha2.as_bytes()])
        } else {
            md5_hex(&[
                self.ha1().as_bytes(),
                self.nonce.as_bytes(),
                self.nc.as_bytes(),
                self.cnonce.as_bytes(),
                self.qop.as_bytes(),
                ha2.as_bytes(),
            ])
        }
    }

    /// request-digest, lower-case hex.
    #[must_use]
    pub fn digest(&self) -> String {
        self.combine(&self.ha2(self.method))
    }

    /// rspauth of Authentication-Info (RFC 2617 §3.2.3): the method is empty and, for
    /// auth-int, the body is the response body.
    #[must_use]
    pub fn rspauth(&self, response_body: &[u8]) -> String {
        let r = Response {
            body: response_body,
            ..self.clone()
        };
        r.combine(&r.ha2(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example() {
        // RFC 2617 §3.5.
        let r = Response {
            username: "Mufasa",
            realm: "testrealm@host.com",
            password: b"Circle Of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            nc: "00000001",
            cnonce: "0a4f113b",
            qop: "auth",
            body: b"",
        };
        assert_eq!(r.digest(), "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn parses_quoted_and_bare_values() {
        let p = parse(r#"Digest realm="bsf.example", nonce="abc=", algorithm=AKAv1-MD5, qop="auth-int", opaque="x\"y""#).unwrap();
        assert_eq!(p.get("realm"), Some("bsf.example"));
        assert_eq!(p.get("algorithm"), Some("AKAv1-MD5"));
        assert_eq!(p.get("opaque"), Some("x\"y"));
        assert_eq!(parse("Basic abc"), Err(DigestError::NotDigest));
        assert!(matches!(
            parse("Digest realm=\"x"),
            Err(DigestError::Malformed(_))
        ));
        assert!(matches!(
            parse("Digest a=1, a=2"),
            Err(DigestError::Duplicate(_))
        ));
        assert!(parse(&format!("Digest a=\"{}\"", "x".repeat(9000))).is_err());
        let f = format(
            &[
                ("username", "a\"b"),
                ("qop", "auth-int"),
                ("nc", "00000001"),
            ],
            &["qop", "nc"],
        );
        assert_eq!(f, r#"Digest username="a\"b", qop=auth-int, nc=00000001"#);
        assert_eq!(parse(&f).unwrap().get("username"), Some("a\"b"));
    }
}
