//! XAdES-BES signature of an e-Tax message (SPEC §4.2; ETDA ขมธอ. 14-2560 / ETSI XAdES 1.3.2):
//! one enveloped `ds:Signature`, RSA with SHA-512 (as ETDA's own example), the signing
//! certificate in `KeyInfo/X509Data` and in `SignedProperties/SigningCertificate`.
//!
//! Decisions:
//! - **No XML-security library**: Rust has no maintained one (the `xmlsec` crate binds an old
//!   libxmlsec1). We generate every signed byte ourselves, so their canonical forms are written
//!   directly: the document is re-serialised in inclusive Canonical XML 1.0 ([`canonicalize`],
//!   enough for what [`crate::render_etax_xml`] writes: elements, attributes, text, namespace
//!   declarations; no DTD, comments, PIs or CDATA), and `SignedInfo` / `SignedProperties` are
//!   written as their exclusive-C14N text and embedded verbatim. `xmlsec1 --verify` is the judge
//!   in the tests.
//! - **Keys**: the seller's PKCS#12 read by `p12-keystore` (pure Rust, PBES2 and the legacy
//!   PBES1 ciphers of older CA-issued files); the RSA signature by `ring`, already in the tree
//!   for TLS.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use ring::digest;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA512, RsaKeyPair};

use crate::Error;

const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const XADES: &str = "http://uri.etsi.org/01903/v1.3.2#";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
const SHA512: &str = "http://www.w3.org/2001/04/xmlenc#sha512";

/// The seller's signing key and certificate.
pub struct EtaxSigner {
    key: RsaKeyPair,
    cert_der: Vec<u8>,
    issuer: String,
    serial: String,
    subject: String,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
}

/// Why a PKCS#12 file cannot sign e-Tax documents: each is the uploader's to fix, so the
/// settings answer them as 422 with their own message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Pkcs12Error {
    /// Not DER-encoded PKCS#12 (PFX) at all.
    #[error("the file is not a PKCS#12 (.p12 / .pfx) file")]
    NotPkcs12,
    /// The integrity check (MAC) or the decryption failed: the password does not open it.
    #[error("the password does not open this PKCS#12 file")]
    WrongPassword,
    /// Opened, but no private key with its certificate inside.
    #[error("the PKCS#12 file holds no private key with its certificate")]
    NoKey,
    /// The key is not RSA, or of a size the signer does not take (2048–8192 bits).
    #[error("the key is not an RSA key of 2048 to 8192 bits")]
    NotRsa,
    /// The certificate cannot be read.
    #[error("the certificate in the PKCS#12 file cannot be read")]
    BadCertificate,
}

impl std::fmt::Debug for EtaxSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtaxSigner")
            .field("subject", &self.subject)
            .field("issuer", &self.issuer)
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

fn sign_error(e: impl std::fmt::Display) -> Error {
    Error::Sign(e.to_string())
}

impl EtaxSigner {
    /// Reads a PKCS#12 file: its first private key (RSA, 2048–8192 bits) and that key's
    /// certificate (the chain's leaf).
    pub fn from_pkcs12(data: &[u8], password: &str) -> Result<Self, Error> {
        Self::read_pkcs12(data, password).map_err(sign_error)
    }

    /// [`EtaxSigner::from_pkcs12`] telling why a file cannot be used (for an upload's answer).
    pub fn read_pkcs12(data: &[u8], password: &str) -> Result<Self, Pkcs12Error> {
        use p12_keystore::error::Error as P12;
        // An uploaded file is anyone's bytes: a parser panic on a malformed one is a refusal.
        let parsed = std::panic::catch_unwind(|| {
            p12_keystore::KeyStore::from_pkcs12(
                data,
                password,
                p12_keystore::Pkcs12ImportPolicy::Strict,
            )
        })
        .map_err(|_| {
            if looks_like_pfx(data) {
                Pkcs12Error::WrongPassword
            } else {
                Pkcs12Error::NotPkcs12
            }
        })?;
        let store = parsed.map_err(|e| match e {
            // The outer structure did not parse: not a PFX.
            P12::DerError(_) | P12::InvalidVersion | P12::UnsupportedContentType
                if !looks_like_pfx(data) =>
            {
                Pkcs12Error::NotPkcs12
            }
            // A PFX whose MAC or decryption fails: the password (or damage, which the same
            // check cannot tell apart).
            _ => Pkcs12Error::WrongPassword,
        })?;
        let (_, chain) = store.private_key_chain().ok_or(Pkcs12Error::NoKey)?;
        let cert = chain.certs().first().ok_or(Pkcs12Error::NoKey)?;
        let key = RsaKeyPair::from_pkcs8(chain.key().as_der()).map_err(|_| Pkcs12Error::NotRsa)?;
        let (_, x509) = x509_parser::parse_x509_certificate(cert.as_der())
            .map_err(|_| Pkcs12Error::BadCertificate)?;
        let time = |t: x509_parser::time::ASN1Time| {
            DateTime::<Utc>::from_timestamp(t.timestamp(), 0).ok_or(Pkcs12Error::BadCertificate)
        };
        Ok(EtaxSigner {
            key,
            cert_der: cert.as_der().to_vec(),
            issuer: rfc4514(x509.issuer()),
            serial: decimal_of(x509.raw_serial()),
            subject: rfc4514(x509.subject()),
            not_before: time(x509.validity().not_before)?,
            not_after: time(x509.validity().not_after)?,
        })
    }

    /// The certificate's subject (RFC 4514), e.g. for a settings page.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The certificate's issuer (RFC 4514), as `X509IssuerName` carries it.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The certificate's serial number in decimal.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The first moment the certificate is valid.
    pub fn not_before(&self) -> DateTime<Utc> {
        self.not_before
    }

    /// The last moment the certificate is valid.
    pub fn not_after(&self) -> DateTime<Utc> {
        self.not_after
    }

    /// `xml` (as [`crate::render_etax_xml`] writes it) with an enveloped XAdES-BES signature as
    /// the last child of its root element. `id` names the signature's elements (an NCName part).
    pub fn sign(
        &self,
        xml: &[u8],
        id: &str,
        signing_time: DateTime<Utc>,
    ) -> Result<Vec<u8>, Error> {
        let canonical = canonicalize(xml)?;
        let close = canonical
            .iter()
            .rposition(|&b| b == b'<')
            .ok_or_else(|| sign_error("no root element"))?;
        let doc_digest = b64_digest(&canonical);
        let cert_b64 = B64.encode(&self.cert_der);
        let cert_digest = b64_digest(&self.cert_der);
        let sig_id = format!("xmldsig-{id}");
        let props_id = format!("{sig_id}-signedprops");
        let time = signing_time.to_rfc3339_opts(SecondsFormat::Secs, true);

        // Exclusive-C14N forms: namespace declarations where the algorithm renders them,
        // attributes sorted, no empty-element tags.
        let signed_props = format!(
            "<xades:SignedProperties xmlns:xades=\"{XADES}\" Id=\"{props_id}\">\
             <xades:SignedSignatureProperties><xades:SigningTime>{time}</xades:SigningTime>\
             <xades:SigningCertificate><xades:Cert><xades:CertDigest>\
             <ds:DigestMethod xmlns:ds=\"{DS}\" Algorithm=\"{SHA512}\"></ds:DigestMethod>\
             <ds:DigestValue xmlns:ds=\"{DS}\">{cert_digest}</ds:DigestValue>\
             </xades:CertDigest><xades:IssuerSerial>\
             <ds:X509IssuerName xmlns:ds=\"{DS}\">{issuer}</ds:X509IssuerName>\
             <ds:X509SerialNumber xmlns:ds=\"{DS}\">{serial}</ds:X509SerialNumber>\
             </xades:IssuerSerial></xades:Cert></xades:SigningCertificate>\
             </xades:SignedSignatureProperties></xades:SignedProperties>",
            issuer = text_escape(&self.issuer),
            serial = self.serial,
        );
        let props_digest = b64_digest(signed_props.as_bytes());
        let signed_info = format!(
            "<ds:SignedInfo xmlns:ds=\"{DS}\">\
             <ds:CanonicalizationMethod Algorithm=\"{EXC_C14N}\"></ds:CanonicalizationMethod>\
             <ds:SignatureMethod Algorithm=\"{RSA_SHA512}\"></ds:SignatureMethod>\
             <ds:Reference Id=\"{sig_id}-ref0\" URI=\"\"><ds:Transforms>\
             <ds:Transform Algorithm=\"{ENVELOPED}\"></ds:Transform>\
             <ds:Transform Algorithm=\"{C14N}\"></ds:Transform></ds:Transforms>\
             <ds:DigestMethod Algorithm=\"{SHA512}\"></ds:DigestMethod>\
             <ds:DigestValue>{doc_digest}</ds:DigestValue></ds:Reference>\
             <ds:Reference Type=\"http://uri.etsi.org/01903#SignedProperties\" URI=\"#{props_id}\">\
             <ds:Transforms><ds:Transform Algorithm=\"{EXC_C14N}\"></ds:Transform></ds:Transforms>\
             <ds:DigestMethod Algorithm=\"{SHA512}\"></ds:DigestMethod>\
             <ds:DigestValue>{props_digest}</ds:DigestValue></ds:Reference></ds:SignedInfo>"
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA512,
                &SystemRandom::new(),
                signed_info.as_bytes(),
                &mut signature,
            )
            .map_err(|e| sign_error(format!("RSA signing failed: {e}")))?;
        let signature_xml = format!(
            "<ds:Signature xmlns:ds=\"{DS}\" Id=\"{sig_id}\">{signed_info}\
             <ds:SignatureValue Id=\"{sig_id}-sigvalue\">{value}</ds:SignatureValue>\
             <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert_b64}</ds:X509Certificate>\
             </ds:X509Data></ds:KeyInfo>\
             <ds:Object><xades:QualifyingProperties xmlns:xades=\"{XADES}\" Target=\"#{sig_id}\">\
             {signed_props}</xades:QualifyingProperties></ds:Object></ds:Signature>",
            value = B64.encode(&signature),
        );
        let mut out = Vec::with_capacity(canonical.len() + signature_xml.len() + 40);
        out.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.extend_from_slice(&canonical[..close]);
        out.extend_from_slice(signature_xml.as_bytes());
        out.extend_from_slice(&canonical[close..]);
        Ok(out)
    }
}

/// Whether `data` starts like a PFX: a DER SEQUENCE whose first element is INTEGER 3.
fn looks_like_pfx(data: &[u8]) -> bool {
    let Some((&0x30, rest)) = data.split_first() else {
        return false;
    };
    // The SEQUENCE's length: short form, or long form of 1–4 bytes.
    let skip = match rest.first() {
        Some(&n) if n < 0x80 => 1,
        Some(&n) if (0x81..=0x84).contains(&n) => 1 + usize::from(n - 0x80),
        _ => return false,
    };
    rest.get(skip..skip + 3) == Some(&[0x02, 0x01, 0x03])
}

fn b64_digest(data: &[u8]) -> String {
    B64.encode(digest::digest(&digest::SHA512, data))
}

/// RFC 4514 string of a distinguished name (last RDN first), as `X509IssuerName` wants.
fn rfc4514(name: &x509_parser::x509::X509Name<'_>) -> String {
    let registry = x509_parser::objects::oid_registry();
    let mut parts = Vec::new();
    let rdns: Vec<_> = name.iter().collect();
    for rdn in rdns.into_iter().rev() {
        let mut attrs = Vec::new();
        for a in rdn.iter() {
            let key = x509_parser::objects::oid2abbrev(a.attr_type(), registry)
                .map(str::to_owned)
                .unwrap_or_else(|_| a.attr_type().to_id_string());
            let value = a.as_str().map(dn_escape).unwrap_or_else(|_| {
                format!(
                    "#{}",
                    a.attr_value()
                        .data
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                )
            });
            attrs.push(format!("{key}={value}"));
        }
        parts.push(attrs.join("+"));
    }
    parts.join(",")
}

fn dn_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        let edge = (i == 0 && (c == ' ' || c == '#')) || (i + 1 == v.chars().count() && c == ' ');
        if edge || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A big-endian unsigned integer as a decimal string.
fn decimal_of(bytes: &[u8]) -> String {
    let mut digits: Vec<u8> = vec![0]; // little-endian base 10
    for &b in bytes {
        let mut carry = u32::from(b);
        for d in digits.iter_mut() {
            let v = u32::from(*d) * 256 + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        while carry > 0 {
            digits.push((carry % 10) as u8);
            carry /= 10;
        }
    }
    while digits.len() > 1 && digits.last() == Some(&0) {
        digits.pop();
    }
    digits.iter().rev().map(|d| char::from(b'0' + d)).collect()
}

fn text_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

fn attr_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

/// Inclusive Canonical XML 1.0 (without comments) of a whole document made of elements,
/// attributes, text and namespace declarations: no XML declaration, empty elements as start and
/// end tags, namespace declarations (only those the output parent does not already have) before
/// the other attributes, each group sorted, C14N's escaping, line ends normalised. Anything
/// else (DTD, PI, CDATA, comments) is refused.
pub fn canonicalize(xml: &[u8]) -> Result<Vec<u8>, Error> {
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().check_end_names = true;
    let mut out = String::with_capacity(xml.len());
    // The namespace declarations in force in the output, one frame per open element.
    let mut scopes: Vec<Vec<(String, String)>> = vec![Vec::new()];
    let mut depth = 0usize;
    let mut buf = Vec::new();
    loop {
        let event = reader.read_event_into(&mut buf).map_err(sign_error)?;
        match event {
            Event::Decl(_) => {}
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).map_err(sign_error)?;
                let mut ns: Vec<(String, String)> = Vec::new();
                let mut attrs: Vec<(String, String)> = Vec::new();
                for a in e.attributes().with_checks(true) {
                    let a = a.map_err(sign_error)?;
                    let key = String::from_utf8(a.key.as_ref().to_vec()).map_err(sign_error)?;
                    let value = a.unescape_value().map_err(sign_error)?.into_owned();
                    if key == "xmlns" || key.starts_with("xmlns:") {
                        ns.push((key, value));
                    } else if key.contains(':') {
                        return Err(sign_error(format!(
                            "prefixed attribute {key} not supported"
                        )));
                    } else {
                        attrs.push((key, value));
                    }
                }
                let parent = scopes.last().cloned().unwrap_or_default();
                let mut frame = parent.clone();
                ns.retain(|(k, v)| {
                    let inherited = parent.iter().find(|(pk, _)| pk == k).map(|(_, pv)| pv);
                    let keep = match inherited {
                        Some(pv) => pv != v,
                        None => !(k == "xmlns" && v.is_empty()),
                    };
                    frame.retain(|(fk, _)| fk != k);
                    frame.push((k.clone(), v.clone()));
                    keep
                });
                // The default namespace (`xmlns`) sorts first, then by prefix.
                ns.sort_by(|a, b| a.0.cmp(&b.0));
                attrs.sort_by(|a, b| a.0.cmp(&b.0));
                out.push('<');
                out.push_str(&name);
                for (k, v) in ns.iter().chain(attrs.iter()) {
                    out.push(' ');
                    out.push_str(k);
                    out.push_str("=\"");
                    out.push_str(&attr_escape(v));
                    out.push('"');
                }
                out.push('>');
                if matches!(event, Event::Empty(_)) {
                    out.push_str("</");
                    out.push_str(&name);
                    out.push('>');
                } else {
                    scopes.push(frame);
                    depth += 1;
                }
            }
            Event::End(ref e) => {
                out.push_str("</");
                out.push_str(std::str::from_utf8(e.name().as_ref()).map_err(sign_error)?);
                out.push('>');
                scopes.pop();
                depth = depth.saturating_sub(1);
            }
            Event::Text(ref t) => {
                // Whitespace outside the root element is not part of the canonical form.
                if depth > 0 {
                    out.push_str(&text_escape(&t.xml_content().map_err(sign_error)?));
                }
            }
            Event::GeneralRef(ref r) => {
                if depth > 0 {
                    match r.resolve_char_ref().map_err(sign_error)? {
                        Some(c) => out.push_str(&text_escape(c.encode_utf8(&mut [0; 4]))),
                        None => {
                            let name = r.decode().map_err(sign_error)?;
                            let v = resolve_predefined_entity(&name)
                                .ok_or_else(|| sign_error(format!("unknown entity &{name};")))?;
                            out.push_str(&text_escape(v));
                        }
                    }
                }
            }
            Event::Eof => break,
            other => {
                return Err(sign_error(format!(
                    "XML construct not supported by the signer: {other:?}"
                )));
            }
        }
        buf.clear();
    }
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_sorts_attributes_expands_empty_and_escapes() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<r:a xmlns:r="urn:r" xmlns:b="urn:b"><b:c z="1" a="x&apos;&quot;"/><b:d xmlns:b="urn:b">A &amp; B &lt; &gt; &apos;q&apos; &#x41;</b:d></r:a>
"#;
        let c = String::from_utf8(canonicalize(xml).unwrap()).unwrap();
        assert_eq!(
            c,
            "<r:a xmlns:b=\"urn:b\" xmlns:r=\"urn:r\"><b:c a=\"x'&quot;\" z=\"1\"></b:c>\
             <b:d>A &amp; B &lt; &gt; 'q' A</b:d></r:a>"
        );
    }

    #[test]
    fn serial_numbers_are_written_in_decimal() {
        assert_eq!(decimal_of(&[0]), "0");
        assert_eq!(decimal_of(&[0x01, 0x00]), "256");
        assert_eq!(
            decimal_of(&[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            i64::MAX.to_string()
        );
    }
}
