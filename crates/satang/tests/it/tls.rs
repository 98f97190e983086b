//! Built-in HTTPS (SPEC §5, §6 "TLS"): with `SATANG_TLS_CERT` and `SATANG_TLS_KEY` Satang serves
//! HTTPS on its address, with HSTS and `Secure` session cookies, to a client that trusts only
//! the certificate the test generated (`rcgen`); plain HTTP to that port fails. Unusable
//! certificate files stop `satang serve` before it touches the database, with a message naming
//! them; SIGTERM still finishes a request in flight over TLS and exits cleanly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{SET_COOKIE, STRICT_TRANSPORT_SECURITY};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::common::process::{free_port, read_log, satang_command};
use crate::common::{ADMIN_EMAIL, Backend, Database, PASSWORD, spawn_with};

both_backends!(https_serves_with_hsts_and_secure_session_cookies);

/// The name the test certificate is for; the clients resolve it to the server's address.
const HOST: &str = "satang.test";

/// A self-signed certificate for [`HOST`] and its key, as PEM files.
struct TestCertificate {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    pem: String,
}

fn certificate() -> TestCertificate {
    let generated = rcgen::generate_simple_self_signed(vec![HOST.to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let pem = generated.cert.pem();
    std::fs::write(&cert, &pem).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    TestCertificate {
        _dir: dir,
        cert,
        key,
        pem,
    }
}

/// An HTTPS client that trusts `certificate` and nothing else, reaching [`HOST`] at `addr`.
fn trusting_only(certificate: &TestCertificate, addr: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(certificate.pem.as_bytes()).unwrap())
        .tls_built_in_root_certs(false)
        .resolve(HOST, addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

async fn https_serves_with_hsts_and_secure_session_cookies(backend: Backend) {
    let certificate = certificate();
    let Some(app) = spawn_with(backend, |c| {
        c.tls_cert = Some(certificate.cert.clone());
        c.tls_key = Some(certificate.key.clone());
    })
    .await
    else {
        return;
    };
    assert!(app.url.starts_with("https://"), "{}", app.url);
    let addr = app.server.as_ref().unwrap().addr;
    let base = format!("https://{HOST}:{}", addr.port());
    let client = trusting_only(&certificate, addr);

    let res = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()[STRICT_TRANSPORT_SECURITY], "max-age=31536000");
    let res = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()[STRICT_TRANSPORT_SECURITY], "max-age=31536000");

    // The console's sign-in sets `Secure` cookies (host-only, `__Host-`).
    let res = client.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let cookies = set_cookies(&res);
    let pre_session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-satang_csrf="))
        .unwrap_or_else(|| panic!("a __Host- pre-session cookie: {cookies:?}"));
    assert!(pre_session.contains("; Secure"), "{pre_session}");
    let cookie = pre_session.split(';').next().unwrap().to_owned();
    let page = res.text().await.unwrap();
    let marker = "name=\"_csrf\" value=\"";
    let start = page.find(marker).expect("a CSRF field") + marker.len();
    let csrf = &page[start..start + page[start..].find('"').unwrap()];
    let res = client
        .post(format!("{base}/login"))
        .header(reqwest::header::COOKIE, cookie)
        .form(&[
            ("_csrf", csrf),
            ("email", ADMIN_EMAIL),
            ("password", PASSWORD),
            ("next", "/billing"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[STRICT_TRANSPORT_SECURITY], "max-age=31536000");
    let cookies = set_cookies(&res);
    for name in ["__Host-satang_at=", "__Host-satang_rt="] {
        let set = cookies
            .iter()
            .find(|c| c.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {cookies:?}"));
        assert!(
            set.contains("; Secure") && set.contains("HttpOnly"),
            "{set}"
        );
    }

    // Plain HTTP to the TLS port gets no answer; nor does a client that does not trust the
    // certificate.
    let plain = reqwest::Client::new()
        .get(format!("http://{addr}/healthz"))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
    let untrusting = reqwest::Client::builder()
        .resolve(HOST, addr)
        .build()
        .unwrap()
        .get(format!("{base}/healthz"))
        .send()
        .await;
    assert!(untrusting.is_err(), "{untrusting:?}");
    // The server is unharmed.
    let res = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

/// `satang serve` with certificate files it cannot use (or an http public URL beside them) exits
/// non-zero at once, naming the file and what is wrong, before it creates or opens a database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_unusable_certificate_files() {
    let good = certificate();
    let other = certificate();
    let missing = good.cert.with_file_name("missing.pem");
    // (case, SATANG_TLS_CERT, SATANG_TLS_KEY, what the error says)
    type Case<'a> = (
        &'a str,
        Option<&'a PathBuf>,
        Option<&'a PathBuf>,
        &'a [&'a str],
    );
    let cases: [Case; 6] = [
        (
            "missing certificate",
            Some(&missing),
            Some(&good.key),
            &["SATANG_TLS_CERT", "missing.pem"],
        ),
        (
            "key without certificate",
            None,
            Some(&good.key),
            &["SATANG_TLS_KEY is set but SATANG_TLS_CERT is not"],
        ),
        (
            "a key where the certificate belongs",
            Some(&good.key),
            Some(&good.key),
            &["SATANG_TLS_CERT", "no PEM certificate"],
        ),
        (
            "a certificate where the key belongs",
            Some(&good.cert),
            Some(&good.cert),
            &["SATANG_TLS_KEY", "no PEM private key"],
        ),
        (
            "another certificate's key",
            Some(&good.cert),
            Some(&other.key),
            &["SATANG_TLS_KEY does not fit SATANG_TLS_CERT"],
        ),
        (
            "usable files, but an http public URL",
            Some(&good.cert),
            Some(&good.key),
            &["SATANG_PUBLIC_URL must start with https://"],
        ),
    ];
    for (case, cert, key, expected) in cases {
        let data = tempfile::tempdir().unwrap();
        let mut cmd = satang_command();
        cmd.args(["serve", "--addr", &format!("127.0.0.1:{}", free_port())])
            .arg("--data-dir")
            .arg(data.path())
            // Looked at only once the files are usable.
            .env("SATANG_PUBLIC_URL", "http://satang.test")
            .stdin(Stdio::null());
        if let Some(cert) = cert {
            cmd.env("SATANG_TLS_CERT", cert);
        }
        if let Some(key) = key {
            cmd.env("SATANG_TLS_KEY", key);
        }
        let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
            .await
            .unwrap_or_else(|_| panic!("{case}: still running after 30 s"))
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{case}: {stderr}");
        for text in expected {
            assert!(stderr.contains(text), "{case}: {text} in {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{case}: {stderr}");
        assert!(
            !data.path().join("satang.db").exists(),
            "{case}: a database was created"
        );
    }
}

/// SIGTERM to `satang serve` over TLS: it stops accepting, finishes the request in flight on an
/// encrypted connection, and exits successfully.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_over_tls_shuts_down_gracefully_on_sigterm() {
    let Some(db) = Database::create(Backend::Sqlite).await else {
        return;
    };
    let certificate = certificate();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let log_path = db.dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = satang_command()
        .args(["serve", "--addr", &addr.to_string(), "--data-dir"])
        .arg(db.dir.path())
        .env("SATANG_TLS_CERT", &certificate.cert)
        .env("SATANG_TLS_KEY", &certificate.key)
        .env("SATANG_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("SATANG_ADMIN_PASSWORD", PASSWORD)
        .env("SATANG_ARGON2_MEMORY_KIB", "4096")
        .env("SATANG_ARGON2_ITERATIONS", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("satang serve starts");

    let client = trusting_only(&certificate, addr);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("exited early ({status}): {}", read_log(&log_path));
        }
        if let Ok(res) = client
            .get(format!("https://{HOST}:{port}/readyz"))
            .send()
            .await
            && res.status() == 200
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready after 20 s: {}",
            read_log(&log_path)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(client);

    // A request in flight over TLS: the server has read its head and asked for the body.
    let mut roots = RootCertStore::empty();
    let der =
        tokio_rustls::rustls::pki_types::CertificateDer::from_pem_slice(certificate.pem.as_bytes())
            .unwrap();
    roots.add(der).unwrap();
    let config = ClientConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut conn = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(HOST).unwrap(), tcp)
        .await
        .unwrap();
    let body = json!({"email": ADMIN_EMAIL, "password": PASSWORD}).to_string();
    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut interim = Vec::new();
    while !interim.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        conn.read_exact(&mut byte).await.unwrap();
        interim.push(byte[0]);
    }
    assert!(interim.starts_with(b"HTTP/1.1 100"));

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    conn.write_all(body.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    // The server closes the connection after answering; a TLS peer may skip close_notify.
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut response))
        .await
        .expect("the in-flight request is answered");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("access_token"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("strict-transport-security: max-age=31536000")
    );
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits within 10 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}: {}", read_log(&log_path));
}
