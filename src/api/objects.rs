//! `GET /vips/{address}[/services/{name}[/backends/{ip}:{port}]]`: the configured object (the
//! TOML table's keys, as `GET /config` has them) with its live state under `"live"`, as GORB
//! shows a backend's options beside its health.
//!
//! Pure: the running config and a `/status` snapshot in, JSON out. `live` is read-only: a PUT
//! of a document fetched here may carry it back, and the write path drops it
//! ([`strip_live`]), so GET, edit, PUT round-trips.

use std::net::{IpAddr, SocketAddr};

use serde_json::Value;

use crate::config::edit::Target;
use crate::config::running::RunningConfig;
use crate::status::{BackendStatus, ServiceStatus, Status, VipStatus};

/// The key that holds the live state in a read, and that a write ignores.
pub const LIVE: &str = "live";

/// The object with `"live"` added (`null` when `/status` does not show it yet, as in the
/// moment after a write), or `None` when the config has no such object.
pub fn view(running: &RunningConfig, status: &Status, target: &Target) -> Option<Value> {
    let mut object = running.object(target);
    let fields = object.as_object_mut()?;
    let live = match target {
        Target::Vip(vip) => vip_status(status, *vip).map(serde_json::to_value),
        Target::Service { vip, name } => {
            service_status(status, *vip, name).map(serde_json::to_value)
        }
        Target::Backend {
            vip,
            service,
            backend,
        } => backend_status(status, *vip, service, *backend).map(serde_json::to_value),
    };
    let live = live.and_then(Result::ok).unwrap_or(Value::Null);
    fields.insert(LIVE.into(), live);
    Some(object)
}

/// A PUT body without the read-only `live` that a GET put there.
pub fn strip_live(body: &mut serde_json::Map<String, Value>) {
    body.remove(LIVE);
}

fn vip_status(status: &Status, vip: IpAddr) -> Option<&VipStatus> {
    status
        .vips
        .iter()
        .find(|v| v.address.parse::<IpAddr>().ok() == Some(vip))
}

fn service_status<'a>(status: &'a Status, vip: IpAddr, name: &str) -> Option<&'a ServiceStatus> {
    vip_status(status, vip)?
        .services
        .iter()
        .find(|s| s.name == name)
}

fn backend_status<'a>(
    status: &'a Status,
    vip: IpAddr,
    service: &str,
    backend: SocketAddr,
) -> Option<&'a BackendStatus> {
    service_status(status, vip, service)?
        .backends
        .iter()
        .find(|b| {
            b.port == backend.port() && b.address.parse::<IpAddr>().ok() == Some(backend.ip())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config with the VIP, service and backends of [`Status::example`]'s first VIP.
    fn running_for_example() -> (RunningConfig, Status) {
        let status = Status::example();
        let vip = &status.vips[0];
        let svc = &vip.services[0];
        let backends: String = svc
            .backends
            .iter()
            .map(|b| {
                format!(
                    "[[vip.service.backend]]\naddress = \"{}\"\nport = {}\nweight = {}\n",
                    b.address, b.port, b.weight
                )
            })
            .collect();
        let text = format!(
            "[[vip]]\naddress = \"{}\"\n# a comment\n[[vip.service]]\nname = \"{}\"\nport = {}\n{backends}",
            vip.address, svc.name, svc.port
        );
        (RunningConfig::new(&text), status)
    }

    #[test]
    fn each_object_carries_its_own_live_state() {
        let (running, status) = running_for_example();
        let vip: IpAddr = status.vips[0].address.parse().unwrap();
        let svc = &status.vips[0].services[0];
        let b = &svc.backends[1];
        let backend = SocketAddr::new(b.address.parse().unwrap(), b.port);

        let v = view(&running, &status, &Target::Vip(vip)).unwrap();
        assert_eq!(v["address"], status.vips[0].address);
        assert_eq!(v["live"]["announced"], status.vips[0].announced);
        assert_eq!(v["live"]["reason"], status.vips[0].reason.as_str());

        let name = svc.name.clone();
        let s = view(&running, &status, &Target::Service { vip, name }).unwrap();
        assert_eq!(s["port"], svc.port);
        assert_eq!(s["live"]["healthy"], svc.healthy);

        let target = Target::Backend {
            vip,
            service: svc.name.clone(),
            backend,
        };
        let one = view(&running, &status, &target).unwrap();
        assert_eq!(one["weight"], b.weight);
        assert_eq!(one["live"]["effective_weight"], b.effective_weight);
        assert_eq!(one["live"]["state"], b.state.as_str());
    }

    #[test]
    fn an_object_not_configured_is_none_and_one_not_in_status_yet_has_null_live() {
        let (running, mut status) = running_for_example();
        let vip: IpAddr = status.vips[0].address.parse().unwrap();
        let other: IpAddr = "192.0.2.99".parse().unwrap();
        assert_eq!(view(&running, &status, &Target::Vip(other)), None);
        let missing = Target::Service {
            vip,
            name: "nope".into(),
        };
        assert_eq!(view(&running, &status, &missing), None);
        status.vips.clear();
        let v = view(&running, &status, &Target::Vip(vip)).unwrap();
        assert_eq!(v["live"], Value::Null);
    }

    #[test]
    fn a_put_body_loses_the_live_state_a_get_gave_it() {
        let (running, status) = running_for_example();
        let vip: IpAddr = status.vips[0].address.parse().unwrap();
        let Value::Object(mut body) = view(&running, &status, &Target::Vip(vip)).unwrap() else {
            panic!("a VIP is an object");
        };
        strip_live(&mut body);
        assert_eq!(Value::Object(body), running.object(&Target::Vip(vip)));
    }
}
