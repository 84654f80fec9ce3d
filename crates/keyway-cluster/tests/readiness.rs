//! Reading `az connectedk8s show` output and comparing issuers.

use keyway_cluster::connected::ConnectedCluster;
use keyway_cluster::k3s::configured_issuer;
use keyway_cluster::readiness::Readiness;

const SHOW: &str = r#"{
  "name": "edge-1",
  "oidcIssuerProfile": {"enabled": true, "issuerUrl": "https://westeurope.oic.prod-arc.azure.com/tenant/guid/", "selfHostedIssuerUrl": null},
  "securityProfile": {"workloadIdentity": {"enabled": true}}
}"#;

#[test]
fn connected_cluster_output_is_read_nested_or_not() {
    let cluster = ConnectedCluster::from_json(SHOW.as_bytes()).unwrap();
    assert_eq!(cluster.name.as_deref(), Some("edge-1"));
    assert_eq!(cluster.oidc_issuer_enabled, Some(true));
    assert_eq!(cluster.workload_identity_enabled, Some(true));
    assert_eq!(
        cluster.effective_issuer(),
        Some("https://westeurope.oic.prod-arc.azure.com/tenant/guid/")
    );
    let nested = format!("{{\"name\": \"edge-1\", \"properties\": {SHOW}}}");
    assert_eq!(
        ConnectedCluster::from_json(nested.as_bytes())
            .unwrap()
            .issuer_url,
        cluster.issuer_url
    );
    let self_hosted = SHOW.replace(
        "\"selfHostedIssuerUrl\": null",
        "\"selfHostedIssuerUrl\": \"https://own.example/\"",
    );
    assert_eq!(
        ConnectedCluster::from_json(self_hosted.as_bytes())
            .unwrap()
            .effective_issuer(),
        Some("https://own.example/")
    );
    let bad =
        ConnectedCluster::from_json(br#"{"oidcIssuerProfile": {"enabled": "yes"}}"#).unwrap_err();
    assert!(
        bad.to_string()
            .starts_with("oidcIssuerProfile.enabled: expected true or false"),
        "{bad}"
    );
    let not_json = ConnectedCluster::from_json(b"oops").unwrap_err();
    assert!(
        not_json.to_string().contains("line 1 column 1"),
        "{not_json}"
    );
}

#[test]
fn disabled_flags_and_every_kind_of_issuer_difference_are_named_with_the_fix() {
    let disabled = SHOW
        .replace(
            "\"enabled\": true, \"issuerUrl\"",
            "\"enabled\": false, \"issuerUrl\"",
        )
        .replace("{\"workloadIdentity\": {\"enabled\": true}}", "{}");
    let mut readiness = Readiness::default();
    readiness.connected_cluster(&ConnectedCluster::from_json(disabled.as_bytes()).unwrap());
    let codes: Vec<&str> = readiness.findings.iter().map(|f| f.code).collect();
    assert_eq!(
        codes,
        ["oidc_issuer_disabled", "workload_identity_disabled"]
    );
    assert!(readiness.findings[0].fix.contains("--enable-oidc-issuer"));
    assert!(readiness.findings[1].message.ends_with("is absent"));

    let issuer = "https://westeurope.oic.prod-arc.azure.com/tenant/guid/";
    let mut readiness = Readiness::default();
    readiness.connected_cluster(&ConnectedCluster::from_json(SHOW.as_bytes()).unwrap());
    readiness.observe("K3s config", issuer.trim_end_matches('/'));
    readiness.observe(
        "a token the cluster mints",
        &issuer.replace("https", "http"),
    );
    readiness.observe(
        "the cluster's discovery document",
        "https://elsewhere.example/",
    );
    readiness.observe("the same", issuer);
    readiness.compare();
    let codes: Vec<&str> = readiness.findings.iter().map(|f| f.code).collect();
    assert_eq!(
        codes,
        ["issuer_trailing_slash", "issuer_scheme", "issuer_mismatch"]
    );
    assert!(
        readiness.findings[0]
            .message
            .contains("the trailing slash differs")
    );
    assert!(
        readiness.findings[0]
            .fix
            .contains("keyway cluster k3s-config --issuer")
    );
    assert!(!readiness.ready());

    let mut fine = Readiness::default();
    fine.connected_cluster(&ConnectedCluster::from_json(SHOW.as_bytes()).unwrap());
    fine.observe("K3s config", issuer);
    fine.compare();
    assert!(fine.ready(), "{:?}", fine.findings);
}

#[test]
fn the_issuer_a_k3s_config_sets_is_read() {
    assert_eq!(configured_issuer("c", "").unwrap(), None);
    assert_eq!(
        configured_issuer("c", "kube-apiserver-arg:\n  - v=2\n  - service-account-issuer=https://a/\n  - service-account-issuer=https://b/\n").unwrap().as_deref(),
        Some("https://a/")
    );
    assert_eq!(
        configured_issuer(
            "c",
            "kube-apiserver-arg: \"service-account-issuer=https://a/\"\n"
        )
        .unwrap()
        .as_deref(),
        Some("https://a/")
    );
    assert!(configured_issuer("c", "a: [\n").is_err());
}

/// The probe asks the cluster itself: a token it mints (through keyway-identity's TokenRequest
/// source) and its discovery document carry the same issuer; a service account that does not
/// exist is a finding naming the account, not an error.
#[tokio::test(flavor = "multi_thread")]
async fn the_cluster_probe_reads_the_issuer_from_a_minted_token_and_the_discovery_document() {
    let cluster = keyway_emulator::testing::TestCluster::start("readiness-probe")
        .await
        .unwrap();
    let issuer = cluster.trust_service_account_issuer().await.unwrap();
    let mut account = k8s_openapi::api::core::v1::ServiceAccount::default();
    account.metadata.name = Some("probe".into());
    kube::Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(
        cluster.client(),
        cluster.namespace(),
    )
    .create(&Default::default(), &account)
    .await
    .unwrap();

    let mut readiness = Readiness::default();
    readiness
        .probe_cluster(cluster.client(), cluster.namespace(), "probe")
        .await;
    readiness.compare();
    assert!(readiness.ready(), "{readiness:?}");
    let sources: Vec<&str> = readiness
        .observations
        .iter()
        .map(|o| o.source.as_str())
        .collect();
    assert_eq!(
        sources,
        [
            format!(
                "a token the cluster mints for {}/probe",
                cluster.namespace()
            )
            .as_str(),
            "the cluster's discovery document"
        ]
    );
    assert!(readiness.observations.iter().all(|o| o.issuer == issuer));

    let mut missing = Readiness::default();
    missing
        .probe_cluster(cluster.client(), cluster.namespace(), "no-such-account")
        .await;
    assert_eq!(missing.findings.len(), 1, "{missing:?}");
    let finding = &missing.findings[0];
    assert_eq!(finding.code, "source_unavailable");
    assert!(
        finding.message.contains("no-such-account") && finding.fix.contains("service account"),
        "{finding:?}"
    );
    cluster.cleanup().await;
}
