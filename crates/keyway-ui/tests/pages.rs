//! The page's handlers against the emulated Key Vault (official SDK) and the Kubernetes
//! stand-in (or `KEYWAY_TEST_KUBECONFIG`'s cluster): each page shows the emulator's state,
//! check → apply writes what `keyway certs ... add` writes, a refusal writes nothing, and
//! nothing passes without the session and the CSRF token.

use axum::http::StatusCode;
use keyway_cert::testing::{CertSpec, Issued};
use keyway_cert::time::{Duration, OffsetDateTime};
use keyway_stores::{AddOptions, InputFile, Store, SyncState};

mod support;
use support::{Browser, cluster_state, env, eventually, server, set_count, start_controller};

fn expired(name: &str) -> Issued {
    let now = OffsetDateTime::now_utc();
    Issued::self_signed(&CertSpec {
        common_name: name.into(),
        not_before: now - Duration::days(30),
        not_after: now - Duration::days(2),
        ..Default::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_tokened_url_starts_a_session_and_every_answer_carries_the_headers() {
    let env = env("ui-session").await;
    let browser = Browser::anonymous(&env);
    for path in [
        "/",
        "/certificates",
        "/certificates/add",
        "/secrets",
        "/certificates/vault",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(page.body.contains("open the URL"), "{path}: {}", page.body);
    }
    assert_eq!(
        browser.get("/?token=00").await.status,
        StatusCode::UNAUTHORIZED
    );
    // The style sheet is the one thing served without a session.
    assert_eq!(browser.get("/style.css").await.status, StatusCode::OK);

    let token = browser.ui.access_token().to_string();
    let page = browser
        .get(&format!("/certificates?store=trust&token={token}"))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.location.as_deref(),
        Some("/certificates?store=trust"),
        "the token leaves the address bar"
    );
    let cookie = page.set_cookie.unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(
        !cookie.contains(&token),
        "the cookie is not the access token"
    );

    let signed_in = Browser::signed_in(&env).await;
    let page = signed_in.get("/certificates").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Synced certificates"));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("form-action 'self'"));
    assert!(!csp.contains("script-src"), "no script at all");
    assert_eq!(page.headers["referrer-policy"], "same-origin");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    // A session of one page does not open another's.
    assert_eq!(
        signed_in
            .without_session()
            .get("/certificates")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_needs_the_csrf_token_and_the_same_origin() {
    let env = env("ui-csrf").await;
    let browser = Browser::signed_in(&env).await;
    let der = server("opcua-a").der().to_vec();
    let sets = set_count(&env);
    let before = cluster_state(env.target.as_ref()).await;
    let forms: [(&str, Vec<(&str, &str)>); 5] = [
        (
            "/certificates/apply",
            vec![("upload", "x"), ("store", "trust")],
        ),
        ("/certificates/vault/pick", vec![("name", "x")]),
        (
            "/certificates/remove",
            vec![("store", "trust"), ("name", "x.der")],
        ),
        ("/secrets/add", vec![("vault_secret", "s"), ("value", "v")]),
        ("/secrets/remove", vec![("name", "s")]),
    ];
    for (path, fields) in &forms {
        let page = browser.post(path, fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}: {}", page.body);
        let mut wrong = fields.clone();
        wrong.push(("csrf", "0000"));
        assert_eq!(
            browser.post(path, &wrong).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
        assert_eq!(
            browser.without_session().post(path, fields).await.status,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    for path in ["/certificates/check", "/certificates/client/check"] {
        let page = browser
            .post_files(path, &[("store", "trust")], &[("file", "a.der", &der)])
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
    }
    // A right token from another site's page is refused too.
    let csrf = browser.get("/certificates/add").await.csrf();
    let request = axum::http::Request::builder()
        .method("POST")
        .uri("/secrets/add")
        .header("host", "127.0.0.1:8787")
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(format!(
            "csrf={csrf}&vault_secret=s&value=v"
        )))
        .unwrap();
    let cross_site = browser.send_with_cookie(request).await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    assert!(
        cross_site.body.contains("another site"),
        "{}",
        cross_site.body
    );
    assert_eq!(set_count(&env), sets, "no SetSecret");
    assert_eq!(cluster_state(env.target.as_ref()).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_check_apply_writes_what_certs_add_writes_then_list_and_delete_from_the_cluster() {
    let env = env("ui-upload").await;
    let browser = Browser::signed_in(&env).await;
    let cert = server("opcua-plc-7");
    let sha1 = keyway_cert::Certificate::from_der(cert.der())
        .unwrap()
        .details()
        .sha1
        .clone();
    let form = browser.get("/certificates/add").await;
    assert_eq!(form.status, StatusCode::OK);
    let sets = set_count(&env);
    let before = cluster_state(env.target.as_ref()).await;

    // Check: the details, before anything is written.
    let details = browser
        .post_files(
            "/certificates/check",
            &[("csrf", &form.csrf()), ("store", "trust")],
            &[("file", "plc-7.der", cert.der())],
        )
        .await;
    assert_eq!(details.status, StatusCode::OK, "{}", details.body);
    assert!(details.body.contains(&sha1), "thumbprint shown");
    assert!(details.body.contains("CN=opcua-plc-7"));
    assert!(
        details.body.contains(r#"value="plc-7-der""#),
        "secret name prefilled"
    );
    assert!(details.body.contains("Apply"));
    assert_eq!(set_count(&env), sets, "checking writes nothing");
    assert_eq!(cluster_state(env.target.as_ref()).await, before);

    // Apply.
    let upload = details.hidden("upload").unwrap();
    let applied = browser
        .post(
            "/certificates/apply",
            &[
                ("csrf", &details.csrf()),
                ("upload", &upload),
                ("store", "trust"),
                ("secret_name", "plc-7-der"),
            ],
        )
        .await;
    assert_eq!(applied.status, StatusCode::SEE_OTHER, "{}", applied.body);
    assert_eq!(set_count(&env), sets + 1);
    // What the page wrote is exactly what the library (`keyway certs trust add`) writes:
    // planning the same file again finds nothing to do.
    let again = env
        .stores
        .plan_add(
            Store::Trust,
            &[InputFile::new("plc-7.der", cert.der().to_vec())],
            &AddOptions::default(),
        )
        .await
        .unwrap();
    assert!(again.is_noop(), "{again}");
    // The upload is gone once applied.
    let replay = browser
        .post(
            "/certificates/apply",
            &[
                ("csrf", &details.csrf()),
                ("upload", &upload),
                ("store", "trust"),
            ],
        )
        .await;
    assert_eq!(replay.status, StatusCode::GONE);

    // Listed, then synced by the controller.
    let running = start_controller(&env);
    eventually("the page shows it synced", || async {
        let page = browser.get("/certificates?store=trust").await;
        (page.body.contains(&sha1) && page.body.contains(">synced<")).then_some(())
    })
    .await;
    running.stop().await;
    let issuer_view = browser.get("/certificates?store=issuer").await;
    assert!(!issuer_view.body.contains(&sha1), "filtered by store");

    // Delete from the cluster: confirmation first, the Key Vault secret stays.
    let confirm = browser
        .get("/certificates/remove?store=trust&name=plc-7.der")
        .await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert!(confirm.body.contains("on the cluster only"));
    assert!(
        confirm
            .body
            .contains(r#"name="include_secrets" value="true">"#),
        "the Key Vault box is there and unchecked"
    );
    let removed = browser
        .post(
            "/certificates/remove",
            &[
                ("csrf", &confirm.csrf()),
                ("store", "trust"),
                ("name", "plc-7.der"),
            ],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    let page = browser.get(removed.location.as_deref().unwrap()).await;
    assert!(!page.body.contains(&sha1), "gone from the list");
    assert!(page.body.contains("the Key Vault secret stays"));
    // The notice is shown once, and never comes from the URL.
    let again = browser
        .get("/certificates?store=trust&notice=INJECTED-TEXT")
        .await;
    assert!(!again.body.contains("the Key Vault secret stays"));
    assert!(!again.body.contains("INJECTED-TEXT"));
    assert!(
        env.vault.secret_value("plc-7-der").is_some(),
        "the Key Vault secret remains"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_shows_why_and_writes_nothing() {
    let env = env("ui-refused").await;
    let browser = Browser::signed_in(&env).await;
    let csrf = browser.get("/certificates/add").await.csrf();
    let sets = set_count(&env);
    let before = cluster_state(env.target.as_ref()).await;

    // An expired certificate: refused, with the reason and the box that allows it.
    let old = expired("retired-plc");
    let details = browser
        .post_files(
            "/certificates/check",
            &[("csrf", &csrf), ("store", "trust")],
            &[("file", "retired.der", old.der())],
        )
        .await;
    assert_eq!(details.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(details.body.contains("Refused — nothing will be written"));
    assert!(details.body.contains("expired"), "{}", details.body);
    assert!(details.body.contains("Add even if expired"));
    let upload = details.hidden("upload").unwrap();
    let applied = browser
        .post(
            "/certificates/apply",
            &[("csrf", &csrf), ("upload", &upload), ("store", "trust")],
        )
        .await;
    assert_eq!(applied.status, StatusCode::UNPROCESSABLE_ENTITY);
    // The refused page's button checks again with the boxes ticked: the new plan, no write.
    assert!(details.body.contains(r#"action="/certificates/recheck""#));
    assert!(!details.body.contains(r#"action="/certificates/apply""#));
    let rechecked = browser
        .post(
            "/certificates/recheck",
            &[
                ("csrf", &csrf),
                ("upload", &upload),
                ("store", "trust"),
                ("allow_expired", "true"),
            ],
        )
        .await;
    assert_eq!(rechecked.status, StatusCode::OK, "{}", rechecked.body);
    assert!(rechecked.body.contains("What Apply writes"));
    assert!(rechecked.body.contains(r#"action="/certificates/apply""#));
    assert_eq!(set_count(&env), sets, "checking again writes nothing");

    // A non-CA certificate to the issuer list.
    let leaf = server("not-a-ca");
    let page = browser
        .post_files(
            "/certificates/check",
            &[("csrf", &csrf), ("store", "issuer")],
            &[("file", "leaf.der", leaf.der())],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.to_lowercase().contains("ca"), "{}", page.body);

    // Garbage, a file too large, no file.
    let garbage = browser
        .post_files(
            "/certificates/check",
            &[("csrf", &csrf), ("store", "trust")],
            &[("file", "x.der", b"not a certificate")],
        )
        .await;
    assert_eq!(garbage.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Unreadable: no content type, as if it would be stored with one; a readable file has it.
    assert!(!garbage.body.contains("content type"), "{}", garbage.body);
    assert!(details.body.contains("content type"), "{}", details.body);
    let big = vec![b'A'; keyway_ui::MAX_FILE_BYTES + 1];
    let too_large = browser
        .post_files(
            "/certificates/check",
            &[("csrf", &csrf), ("store", "trust")],
            &[("file", "big.der", &big)],
        )
        .await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(too_large.body.contains("64 KiB"));
    let none = browser
        .post_files(
            "/certificates/check",
            &[("csrf", &csrf), ("store", "trust")],
            &[],
        )
        .await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
    assert!(none.body.contains("file: choose"), "{}", none.body);
    let bad_store = browser
        .post_files(
            "/certificates/check",
            &[("csrf", &csrf), ("store", "../etc")],
            &[("file", "a.der", leaf.der())],
        )
        .await;
    assert_eq!(bad_store.status, StatusCode::BAD_REQUEST);

    assert_eq!(set_count(&env), sets, "no SetSecret");
    assert_eq!(cluster_state(env.target.as_ref()).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_vault_certificate_is_offered_with_its_details_and_added_without_a_new_version() {
    let env = env("ui-vault").await;
    let browser = Browser::signed_in(&env).await;
    let cert = server("historian");
    let sha1 = keyway_cert::Certificate::from_der(cert.der())
        .unwrap()
        .details()
        .sha1
        .clone();
    // As `az keyvault secret set --encoding hex` stores it, and a secret that is no certificate.
    env.vault
        .put_secret(
            "historian-der",
            keyway_emulator::SecretSpec {
                value: hex(cert.der()),
                content_type: Some("application/pkix-cert".into()),
                tags: vec![("file-encoding".into(), "hex".into())],
                ..Default::default()
            },
        )
        .unwrap();
    env.vault
        .set_secret("db-password", "hunter2-not-a-cert")
        .unwrap();
    let list = browser.get("/certificates/vault").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains("historian-der") && list.body.contains(&sha1));
    assert!(
        !list.body.contains("db-password"),
        "only certificates are offered"
    );
    assert!(!list.body.contains("hunter2"), "never a value");

    let sets = set_count(&env);
    let details = browser
        .post(
            "/certificates/vault/pick",
            &[("csrf", &list.csrf()), ("name", "historian-der")],
        )
        .await;
    assert_eq!(details.status, StatusCode::OK, "{}", details.body);
    assert!(details.body.contains(&sha1));
    assert!(details.body.contains("already holds these bytes"));
    let applied = browser
        .post(
            "/certificates/apply",
            &[
                ("csrf", &details.csrf()),
                ("upload", &details.hidden("upload").unwrap()),
                ("store", "trust"),
            ],
        )
        .await;
    assert_eq!(applied.status, StatusCode::SEE_OTHER, "{}", applied.body);
    assert_eq!(set_count(&env), sets, "no new version");
    let listing = env.stores.list(Some(Store::Trust), None).await.unwrap();
    assert_eq!(listing[0].entries[0].secret_name, "historian-der");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_pair_shows_its_name_uri_and_settings_and_never_the_key() {
    let env = env("ui-client").await;
    let browser = Browser::signed_in(&env).await;
    let client = Issued::self_signed(&CertSpec {
        common_name: "opcua-connector".into(),
        san: vec!["urn:fabrikam:opcua:connector".into()],
        ..Default::default()
    });
    let key_pem = client.key_pem();
    let form = browser.get("/certificates/client").await;
    let details = browser
        .post_files(
            "/certificates/client/check",
            &[("csrf", &form.csrf())],
            &[
                ("certificate", "connector.der", client.der()),
                ("key", "connector.pem", key_pem.as_bytes()),
            ],
        )
        .await;
    assert_eq!(details.status, StatusCode::OK, "{}", details.body);
    assert!(details.body.contains("CN=opcua-connector"));
    assert!(details.body.contains("urn:fabrikam:opcua:connector"));
    assert!(
        details
            .body
            .contains("connectors.values.securityPki.applicationCert")
    );
    assert!(
        !details.body.contains("PRIVATE KEY"),
        "the key is write-only"
    );
    let key_body: String = key_pem.lines().nth(1).unwrap().to_string();
    assert!(!details.body.contains(&key_body));
    let applied = browser
        .post(
            "/certificates/apply",
            &[
                ("csrf", &details.csrf()),
                ("upload", &details.hidden("upload").unwrap()),
                ("store", "trust"),
            ],
        )
        .await;
    assert_eq!(applied.status, StatusCode::SEE_OTHER, "{}", applied.body);
    let page = browser.get(applied.location.as_deref().unwrap()).await;
    assert!(
        page.body.contains("az k8s-extension update"),
        "{}",
        page.body
    );
    let listing = env.stores.list(Some(Store::Client), None).await.unwrap();
    assert_eq!(
        listing[0].entries.len(),
        2,
        "certificate and key, in the client store"
    );
    assert!(!page.body.contains(&key_body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_added_listed_with_sizes_and_deleted_and_a_value_is_never_shown() {
    let env = env("ui-secrets").await;
    let browser = Browser::signed_in(&env).await;
    let value = "s3cr3t-value-only-the-vault-sees";
    let page = browser.get("/secrets").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let added = browser
        .post(
            "/secrets/add",
            &[
                ("csrf", &page.csrf()),
                ("vault_secret", "historian-password"),
                ("source", "new"),
                ("value", value),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    assert_eq!(
        env.vault.secret_value("historian-password").as_deref(),
        Some(value)
    );

    // The same name with another value: refused, and the value is not echoed.
    let refused = browser
        .post(
            "/secrets/add",
            &[
                ("csrf", &page.csrf()),
                ("vault_secret", "historian-password"),
                ("source", "new"),
                ("value", "another-value-xyz"),
            ],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("Write a new version"),
        "{}",
        refused.body
    );
    assert!(!refused.body.contains("another-value-xyz"));
    assert!(
        refused.body.contains(r#"value="historian-password""#),
        "the form keeps the name"
    );
    // A missing value is said on the same page, the name kept.
    let empty = browser
        .post(
            "/secrets/add",
            &[
                ("csrf", &page.csrf()),
                ("vault_secret", "db-password"),
                ("source", "new"),
            ],
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.body.contains("type the new value"), "{}", empty.body);
    assert!(empty.body.contains(r#"value="db-password""#));

    let running = start_controller(&env);
    let listed = eventually("the page shows the synced secret and its size", || async {
        let page = browser.get("/secrets").await;
        (page.body.contains(">synced<") && page.body.contains(&format!("{} bytes", value.len())))
            .then_some(page)
    })
    .await;
    running.stop().await;
    assert!(listed.body.contains("historian-password"));
    assert!(!listed.body.contains(value), "never a value");
    let sync = env
        .stores
        .list_secrets()
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.secret_sync == "historian-password")
        .unwrap();
    assert_eq!(sync.entries[0].sync, SyncState::Synced);

    let confirm = browser.get("/secrets/remove?name=historian-password").await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert!(confirm.body.contains("the Key Vault secret stays"));
    let removed = browser
        .post(
            "/secrets/remove",
            &[("csrf", &confirm.csrf()), ("name", "historian-password")],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    assert!(env.stores.list_secrets().await.unwrap().is_empty());
    assert_eq!(
        env.vault.secret_value("historian-password").as_deref(),
        Some(value)
    );
    let unknown = browser.get("/secrets/remove?name=nope").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
