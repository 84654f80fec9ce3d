//! The page end to end in a real browser: headless Chromium, driven over the DevTools
//! protocol, against `keyway ui`'s server on the emulated Key Vault and the Kubernetes
//! stand-in (or `KEYWAY_TEST_KUBECONFIG`'s cluster). Open the tokened URL, upload a DER
//! certificate made here, see its thumbprint before anything is written, choose the trust
//! list, apply, see it synced after the controller's pass, delete it from the cluster, see it
//! gone while the Key Vault secret stays.
//!
//! Without Chromium the test says so and passes, except where `KEYWAY_REQUIRE_BROWSER=1` (CI,
//! which installs it): there a missing browser fails. With `KEYWAY_UI_SCREENSHOTS=DIR` the four
//! pages' screenshots are written to DIR (docs/ui/ holds the ones in docs/ui.md).

use std::path::PathBuf;

use keyway_cert::testing::{CertSpec, Issued};
use serde_json::json;

mod support;
use support::cdp::{self, TempDir};
use support::{env, eventually, start_controller, stores_of};

/// Where screenshots go: `KEYWAY_UI_SCREENSHOTS`, else a directory removed afterwards.
fn screenshot_dir(scratch: &TempDir) -> PathBuf {
    std::env::var_os("KEYWAY_UI_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| scratch.path().to_path_buf())
}

async fn shoot(browser: &cdp::Browser, dir: &std::path::Path, name: &str) {
    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}: a PNG");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}

/// Every form control of the page has a label (keyboard and screen-reader use), and at a
/// narrow width the page does not scroll sideways (tables scroll inside their box).
async fn check_usable(browser: &cdp::Browser, page: &str) {
    let unlabelled = browser
        .eval(
            "[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]\
             .filter(e => !e.labels || e.labels.length === 0).map(e => e.name)",
        )
        .await;
    assert_eq!(unlabelled, json!([]), "{page}: controls without a label");
    browser.resize(400, 800).await;
    // What sticks out (the innermost elements past the right edge that are not inside a
    // scrolling table box).
    let wide = browser
        .eval(
            "[...document.querySelectorAll('body *')].filter(e => \
               e.getBoundingClientRect().right > window.innerWidth + 1 \
               && (!e.parentElement.closest('.table')))\
             .map(e => e.tagName + '.' + e.className + ': ' + e.textContent.slice(0, 40))",
        )
        .await;
    let fits = browser
        .eval("document.documentElement.scrollWidth <= window.innerWidth + 1")
        .await;
    browser.resize(1280, 800).await;
    assert_eq!(
        fits,
        json!(true),
        "{page}: scrolls sideways at 400 px: {wide}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_check_apply_sync_and_delete_in_a_real_browser() {
    let Some(chromium) = cdp::chromium() else {
        assert!(
            std::env::var_os("KEYWAY_REQUIRE_BROWSER").is_none(),
            "KEYWAY_REQUIRE_BROWSER is set and no Chromium was found (install Debian's \
             `chromium`, or set KEYWAY_CHROMIUM)"
        );
        eprintln!("no Chromium here: the browser test did not run (install `chromium`)");
        return;
    };
    let env = env("ui-browser").await;
    let server = keyway_ui::Ui::new(stores_of(&env))
        .bind("127.0.0.1:0".parse().unwrap(), None)
        .await
        .unwrap();
    let url = server.url().to_string();
    let base = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    let scratch = TempDir::new("keyway-ui-browser");
    let shots = screenshot_dir(&scratch);

    let cert = Issued::self_signed(&CertSpec {
        common_name: "opcua-plc-12".into(),
        san: vec!["plc-12.plant.local".into(), "urn:fabrikam:plc-12".into()],
        ..Default::default()
    });
    let sha1 = keyway_cert::Certificate::from_der(cert.der())
        .unwrap()
        .details()
        .sha1
        .clone();
    let file = scratch.path().join("plc-12.der");
    std::fs::write(&file, cert.der()).unwrap();

    let browser = cdp::Browser::launch(&chromium).await;

    // Without the token: 401.
    browser.open(&format!("{base}/certificates")).await;
    assert!(browser.text().await.contains("open the URL"));

    // The tokened URL: signed in, the token gone from the address bar.
    browser.open(&url).await;
    let location = browser.eval("location.href").await;
    assert_eq!(location, json!(format!("{base}/certificates")));
    assert!(browser.text().await.contains("No certificate is synced"));

    // Upload → details, before anything is written.
    browser.open(&format!("{base}/certificates/add")).await;
    check_usable(&browser, "add").await;
    browser.choose_file("#file", &file).await;
    browser
        .eval("document.querySelector('#store').value = 'trust'")
        .await;
    let sets = env
        .cluster
        .emulator()
        .counters()
        .count(keyway_emulator::Service::KeyVault, "SetSecret");
    browser
        .submit("document.querySelector('form[action=\"/certificates/check\"] button').click()")
        .await;
    let details = browser.text().await;
    assert!(
        details.contains(&sha1),
        "thumbprint on the details page: {details}"
    );
    assert!(details.contains("CN=opcua-plc-12"));
    assert!(details.contains("What Apply writes"));
    let secret_name = browser
        .eval("document.querySelector('#secret_name').value")
        .await;
    assert_eq!(
        secret_name,
        json!("plc-12-der"),
        "prefilled from the file name"
    );
    shoot(&browser, &shots, "add-certificate.png").await;
    assert_eq!(
        env.cluster
            .emulator()
            .counters()
            .count(keyway_emulator::Service::KeyVault, "SetSecret"),
        sets,
        "nothing written before Apply"
    );

    // Choose the trust list, Apply.
    browser
        .submit(
            "document.querySelector('form.apply #store').value = 'trust';\
             document.querySelector('form.apply button').click()",
        )
        .await;
    let after = browser.text().await;
    assert!(after.contains("Applied to the trust list"), "{after}");
    assert!(env.vault.secret_value("plc-12-der").is_some());

    // Listed as synced after the controller's pass.
    let running = start_controller(&env);
    eventually("the page lists it as synced", || async {
        browser.open(&format!("{base}/certificates?store=trust")).await;
        let synced = browser
            .eval(&format!(
                "(() => {{ const row = document.querySelector('tr[data-file=\"plc-12.der\"]');\
                   return row !== null && row.querySelector('td.sync').innerText.startsWith('synced')\
                     && row.innerText.includes('{sha1}'); }})()"
            ))
            .await;
        (synced == json!(true)).then_some(())
    })
    .await;
    check_usable(&browser, "certificates").await;
    shoot(&browser, &shots, "certificates.png").await;

    // The other two pages, for the record and for their labels.
    browser.open(&format!("{base}/certificates/client")).await;
    check_usable(&browser, "client").await;
    shoot(&browser, &shots, "client-certificate.png").await;
    // A synced secret typed into the password field: sent once, synced, never shown.
    let value = "historian-db-passw0rd";
    browser.open(&format!("{base}/secrets")).await;
    check_usable(&browser, "secrets").await;
    browser
        .eval(&format!(
            "document.querySelector('#vault_secret').value = 'historian-password';\
             document.querySelector('#value').value = '{value}'"
        ))
        .await;
    browser
        .submit("document.querySelector('form[action=\"/secrets/add\"] button').click()")
        .await;
    assert!(browser.text().await.contains("Added historian-password"));
    eventually("the secrets page shows it synced", || async {
        browser.open(&format!("{base}/secrets")).await;
        let text = browser.text().await;
        (text.contains("synced") && text.contains(&format!("{} bytes", value.len()))).then_some(())
    })
    .await;
    let html = browser.eval("document.documentElement.outerHTML").await;
    assert!(!html.as_str().unwrap().contains(value), "never a value");
    shoot(&browser, &shots, "secrets.png").await;

    // Delete from the cluster: the confirmation says so, the Key Vault box is unchecked.
    browser
        .open(&format!("{base}/certificates?store=trust"))
        .await;
    browser
        .submit("document.querySelector('tr[data-file=\"plc-12.der\"] a[href^=\"/certificates/remove\"]').click()")
        .await;
    let confirm = browser.text().await;
    assert!(confirm.contains("on the cluster only"), "{confirm}");
    assert_eq!(
        browser
            .eval("document.querySelector('#include_secrets').checked")
            .await,
        json!(false)
    );
    browser
        .submit("document.querySelector('form[action=\"/certificates/remove\"] button').click()")
        .await;
    let gone = browser.text().await;
    assert!(gone.contains("the Key Vault secret stays"), "{gone}");
    assert_eq!(
        browser
            .eval("document.querySelector('tr[data-file=\"plc-12.der\"]') === null")
            .await,
        json!(true),
        "gone from the list"
    );
    assert!(
        env.vault.secret_value("plc-12-der").is_some(),
        "the Key Vault secret remains"
    );
    running.stop().await;
    let _ = stop.send(());
    let _ = serving.await;
}
