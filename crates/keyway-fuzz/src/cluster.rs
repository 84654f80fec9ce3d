//! The K3s config editor: keyway-cluster's line-by-line YAML edit.

use keyway_cluster::k3s::{IssuerSettings, configured_issuer, ensure_issuer};
use std::sync::OnceLock;

/// The issuer edit on any config text. An edit that succeeds is final: a second run changes
/// nothing, and the config then names our issuer.
pub fn k3s_config(data: &[u8]) {
    static SETTINGS: OnceLock<IssuerSettings> = OnceLock::new();
    let settings = SETTINGS.get_or_init(|| {
        IssuerSettings::new("https://issuer.example/keyway/", "24h")
            .expect("the fuzz target's issuer settings are valid")
    });
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = configured_issuer("config.yaml", text);
    let Ok(edit) = ensure_issuer("config.yaml", text, settings) else {
        return;
    };
    let _ = edit.unified_diff();
    let again = ensure_issuer("config.yaml", edit.after(), settings)
        .unwrap_or_else(|e| panic!("the editor refuses its own output: {e}"));
    assert!(!again.changed(), "a second edit changed the config again");
    let issuer = configured_issuer("config.yaml", edit.after())
        .unwrap_or_else(|e| panic!("the edited config does not read back: {e}"));
    assert_eq!(issuer.as_deref(), Some(settings.issuer()));
}
