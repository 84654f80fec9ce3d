//! SecretProviderClass input: keyway-sync's `objects` parser and manifest loading.

use keyway_sync::{SecretProviderClass, SyncSpec, parse_objects};

/// The `spec.parameters.objects` YAML string of a SecretProviderClass.
pub fn spc_objects(data: &[u8]) {
    let Ok(yaml) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(objects) = parse_objects(yaml, "spec.parameters.objects") {
        for object in &objects {
            let _ = object.output_name();
        }
        let _ = SyncSpec::new("https://fuzz.vault.azure.net", objects);
    }
}

/// A whole SecretProviderClass manifest, as `keyway sync` and the controller read one.
pub fn secret_provider_class(data: &[u8]) {
    if let Ok(spc) = keyway_sync::yaml::from_slice::<SecretProviderClass>(data) {
        let _ = SyncSpec::from_provider_class(&spc);
    }
}
