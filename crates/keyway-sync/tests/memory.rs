//! The seams without any network: MemorySource → MemorySink, as a program embedding keyway
//! with its own store would use them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use keyway_sync::{
    KeyVaultObject, MemorySink, MemorySource, ObjectType, Outcome, SyncSpec, Syncer,
};

#[tokio::test]
async fn memory_source_to_memory_sink_with_progress() {
    let source = Arc::new(MemorySource::new());
    let objects: Vec<KeyVaultObject> = (0..60)
        .map(|i| {
            let name = format!("s{i:02}");
            source.set(&name, &format!("v{i}"), None, &[]);
            KeyVaultObject::secret(name)
        })
        .collect();
    let sink = Arc::new(MemorySink::new());
    let last = Arc::new(AtomicUsize::new(0));
    let seen = last.clone();
    let syncer = Syncer::new(
        SyncSpec::new("https://memory.invalid", objects).unwrap(),
        source.clone(),
        sink.clone(),
    )
    .with_progress(Arc::new(move |done, total| {
        assert!(done <= total);
        seen.store(done, Ordering::Relaxed);
    }));
    let report = syncer.run_once().await;
    assert!(report.all_synced());
    assert_eq!(
        last.load(Ordering::Relaxed),
        60,
        "progress reached every read"
    );
    assert_eq!(sink.contents().unwrap().files.len(), 60);
    assert_eq!(&*sink.contents().unwrap().files["s07"].contents, b"v7");

    // Disabled upstream: the previous value stays in the sink.
    source.set_enabled("s07", false);
    let report = syncer.run_once().await;
    let s07 = report.objects.iter().find(|o| o.output == "s07").unwrap();
    assert_eq!(s07.outcome, Outcome::Failed);
    assert_eq!(&*sink.contents().unwrap().files["s07"].contents, b"v7");
}

#[tokio::test]
async fn key_objects_from_a_memory_source() {
    let source = Arc::new(MemorySource::new());
    source.set_key(
        "k",
        keyway_cert::PublicKeyComponents::Ec {
            curve: "P-256".into(),
            x: vec![1; 32],
            y: vec![2; 32],
        },
    );
    let object = KeyVaultObject {
        object_type: ObjectType::Key,
        ..KeyVaultObject::secret("k")
    };
    let sink = Arc::new(MemorySink::new());
    let report = Syncer::new(
        SyncSpec::new("https://memory.invalid", vec![object]).unwrap(),
        source,
        sink.clone(),
    )
    .run_once()
    .await;
    assert!(report.all_synced(), "{report:?}");
    let pem = String::from_utf8(sink.contents().unwrap().files["k"].contents.to_vec()).unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
}
