//! Events on SecretSyncs (`events.k8s.io/v1`), published as kube-runtime's `Recorder` publishes
//! them: the same event on the same object (type, reason, action, reporter, and the object at
//! the same resourceVersion) within 6 minutes adds to the first one's `series` instead of
//! creating another Event.
//!
//! The `Recorder` keeps a whole `Event` per event published in the last 6 minutes (about
//! 4 KiB each with its map slot): 4.2 MiB of the controller's heap at 1,000 SecretSyncs, all
//! written in one first sync. A series only needs to know its event again, the first Event's
//! name and the count: this keeps a digest of what makes the event the same one and the time
//! that names the first Event (about 60 bytes with the map slot, no string), and a repeat is a
//! merge patch of the series.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};
use kube::{Api, Client};

/// How long a published event is remembered to count its repeats (kube-runtime's figure).
const REMEMBERED_FOR: SignedDuration = SignedDuration::from_mins(6);

/// What makes two events the same one — the object (by uid and resourceVersion; the reporter
/// is the same for every event of this publisher), type, reason and action — as the first 16
/// bytes of their SHA-256: 5,000 SecretSyncs' first sync leaves 5,000 series to remember.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key([u8; 16]);

impl Key {
    fn of(event: &Event, regarding: &ObjectReference) -> Key {
        let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        let mut part = |bytes: &[u8]| {
            context.update(&(bytes.len() as u64).to_be_bytes());
            context.update(bytes);
        };
        match &regarding.uid {
            Some(uid) => {
                part(b"uid");
                part(uid.as_bytes());
            }
            // No uid: the object by namespace and name.
            None => {
                part(b"name");
                part(
                    regarding
                        .namespace
                        .as_deref()
                        .unwrap_or_default()
                        .as_bytes(),
                );
                part(regarding.name.as_deref().unwrap_or_default().as_bytes());
            }
        }
        part(
            regarding
                .resource_version
                .as_deref()
                .unwrap_or_default()
                .as_bytes(),
        );
        part(&[u8::from(matches!(event.type_, EventType::Warning))]);
        part(event.reason.as_bytes());
        part(event.action.as_bytes());
        let digest = context.finish();
        let mut key = [0; 16];
        key.copy_from_slice(&digest.as_ref()[..16]);
        Key(key)
    }
}

/// A published event, as far as its repeats need it (its namespace and object name are the
/// repeat's own: the key holds the object).
#[derive(Debug)]
struct Published {
    /// When the first Event was created, which its name holds.
    first: Timestamp,
    /// 1 until repeated, then the series' count.
    count: i32,
    /// When it was published or last repeated.
    last: Timestamp,
}

/// Publishes Events, counting repeats in a series.
pub(crate) struct Events {
    client: Client,
    reporter: Reporter,
    recent: Mutex<HashMap<Key, Published>>,
}

impl Events {
    /// A publisher writing through `client` as `reporter`.
    pub(crate) fn new(client: Client, reporter: Reporter) -> Events {
        Events {
            client,
            reporter,
            recent: Mutex::new(HashMap::new()),
        }
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Published>> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes `event` about `regarding`: a new Event, or the next count of the series of
    /// the same event published within the last 6 minutes.
    pub(crate) async fn publish(
        &self,
        event: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = Key::of(event, regarding);
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let repeat = {
            let mut recent = self.recent();
            recent.retain(|_, published| published.last + REMEMBERED_FOR > now);
            recent
                .get(&key)
                .map(|published| (published.first, published.count + 1))
        };
        // The Event's name: the object's and the first publication's time.
        let name_at = |first: Timestamp| {
            format!(
                "{}.{:x}",
                regarding.name.as_ref().unwrap_or(&self.reporter.controller),
                first.as_nanosecond()
            )
        };
        let published = match repeat {
            Some((first, count)) => {
                let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
                let series = EventSeries {
                    count,
                    last_observed_time: MicroTime(now),
                };
                api.patch(
                    &name_at(first),
                    &PatchParams::default(),
                    &Patch::Merge(serde_json::json!({ "series": series })),
                )
                .await?;
                Published {
                    first,
                    count,
                    last: now,
                }
            }
            None => {
                let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
                let name = name_at(now);
                let created = K8sEvent {
                    action: Some(event.action.clone()),
                    reason: Some(event.reason.clone()),
                    event_time: Some(MicroTime(now)),
                    regarding: Some(regarding.clone()),
                    note: event.note.clone(),
                    metadata: ObjectMeta {
                        namespace: Some(namespace.clone()),
                        name: Some(name),
                        ..Default::default()
                    },
                    reporting_controller: Some(self.reporter.controller.clone()),
                    reporting_instance: Some(
                        self.reporter
                            .instance
                            .clone()
                            .unwrap_or_else(|| self.reporter.controller.clone()),
                    ),
                    type_: Some(
                        match event.type_ {
                            EventType::Normal => "Normal",
                            EventType::Warning => "Warning",
                        }
                        .to_string(),
                    ),
                    related: event.secondary.clone(),
                    ..Default::default()
                };
                api.create(&PostParams::default(), &created).await?;
                Published {
                    first: now,
                    count: 1,
                    last: now,
                }
            }
        };
        self.recent().insert(key, published);
        Ok(())
    }
}
