//! Leader election over a `coordination.k8s.io/v1` Lease, so two operator replicas never
//! reconcile at the same time (kube-rs has no built-in election).
//!
//! [`decide`] is the pure rule; [`LeaseLock`] applies it with optimistic concurrency: every
//! write carries the `resourceVersion` that was read, so when two candidates race for an
//! expired Lease the API server accepts exactly one (the other gets 409 Conflict and stays a
//! follower). A leader that fails to renew within the Lease duration must stop working: the
//! binary exits so its pod restarts as a follower.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::PostParams;

/// What a candidate should do with the Lease it read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No Lease yet: create it holding it.
    Create,
    /// We hold it: renew.
    Renew,
    /// Held by someone whose renewal expired: take it over.
    TakeOver,
    /// Held by a live leader: wait.
    Follow,
}

/// Decides from the Lease `spec` (None when absent) what `identity` does at `now`.
pub fn decide(spec: Option<&LeaseSpec>, identity: &str, now: Timestamp) -> Decision {
    let Some(spec) = spec else {
        return Decision::Create;
    };
    match spec.holder_identity.as_deref() {
        Some(holder) if holder == identity => return Decision::Renew,
        None | Some("") => return Decision::TakeOver,
        Some(_) => {}
    }
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(15)));
    let last = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0);
    match last {
        Some(last) if last + duration > now => Decision::Follow,
        _ => Decision::TakeOver,
    }
}

/// A Lease-based lock held by `identity`.
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration_seconds: i32,
}

impl LeaseLock {
    /// Lock `name` in the namespace of `api`, for `identity`, expiring after `duration_seconds`.
    pub fn new(api: Api<Lease>, name: &str, identity: &str, duration_seconds: i32) -> Self {
        Self {
            api,
            name: name.to_string(),
            identity: identity.to_string(),
            duration_seconds,
        }
    }

    /// One election round: true when this candidate holds the Lease afterwards.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let current = self.api.get_opt(&self.name).await?;
        let decision = decide(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            &self.identity,
            now,
        );
        let result = match (decision, current) {
            (Decision::Follow, _) => return Ok(false),
            (Decision::Create, _) => {
                self.api
                    .create(&PostParams::default(), &self.lease(None, now, 0))
                    .await
            }
            (decision, Some(lease)) => {
                let old = lease.spec.clone().unwrap_or_default();
                let transitions =
                    old.lease_transitions.unwrap_or(0) + i32::from(decision == Decision::TakeOver);
                let acquired = if decision == Decision::Renew {
                    old.acquire_time.map(|t| t.0)
                } else {
                    None
                };
                let mut next =
                    self.lease(lease.metadata.resource_version.clone(), now, transitions);
                if let (Some(spec), Some(at)) = (next.spec.as_mut(), acquired) {
                    spec.acquire_time = Some(MicroTime(at));
                }
                self.api
                    .replace(&self.name, &PostParams::default(), &next)
                    .await
            }
            (_, None) => return Ok(false),
        };
        match result {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn lease(&self, resource_version: Option<String>, now: Timestamp, transitions: i32) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                resource_version,
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(self.duration_seconds),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(transitions),
                ..LeaseSpec::default()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).expect("timestamp")
    }

    fn held_by(holder: &str, renewed: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(at(renewed))),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn absent_lease_is_created() {
        assert_eq!(decide(None, "a", at(0)), Decision::Create);
    }

    #[test]
    fn own_lease_is_renewed_even_when_late() {
        assert_eq!(
            decide(Some(&held_by("a", 0)), "a", at(100)),
            Decision::Renew
        );
    }

    #[test]
    fn live_foreign_lease_is_followed_until_it_expires() {
        let spec = held_by("b", 0);
        assert_eq!(decide(Some(&spec), "a", at(14)), Decision::Follow);
        assert_eq!(decide(Some(&spec), "a", at(15)), Decision::TakeOver);
    }

    #[test]
    fn released_lease_is_taken_over() {
        let mut spec = held_by("b", 0);
        spec.holder_identity = Some(String::new());
        assert_eq!(decide(Some(&spec), "a", at(1)), Decision::TakeOver);
    }
}
