//! IPVS errors, and the text operators read in status for each refused change.

use crate::dataplane::reconcile::{IpvsOp, IPVS_UNAVAILABLE};

#[derive(Debug, thiserror::Error)]
pub enum IpvsError {
    /// The kernel has no generic netlink family "IPVS" (module not loaded or not built).
    #[error("{}", IPVS_UNAVAILABLE)]
    Unavailable,
    /// The kernel refused a request with this (positive) errno.
    #[error("{}", errno_text(*.0))]
    Errno(i32),
    #[error("netlink socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("unexpected netlink answer: {0}")]
    Protocol(String),
}

/// Symbolic names of the errnos IPVS and rtnetlink return.
pub fn errno_name(e: i32) -> Option<&'static str> {
    macro_rules! names {
        ($($name:ident),* $(,)?) => {
            match e {
                $(libc::$name => Some(stringify!($name)),)*
                _ => None,
            }
        };
    }
    names!(
        EPERM,
        ENOENT,
        ESRCH,
        ENOMEM,
        EACCES,
        EBUSY,
        EEXIST,
        ENODEV,
        EINVAL,
        ERANGE,
        EPROTO,
        EPROTONOSUPPORT,
        EOPNOTSUPP,
        EAFNOSUPPORT,
        EADDRNOTAVAIL,
        ENOBUFS,
    )
}

/// "No such file or directory (ENOENT)".
pub fn errno_text(e: i32) -> String {
    let text = std::io::Error::from_raw_os_error(e).to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    match errno_name(e) {
        Some(name) => format!("{text} ({name})"),
        None => format!("{text} (errno {e})"),
    }
}

/// What went wrong with `op`, in the words an operator needs.
pub fn describe(op: &IpvsOp, err: &IpvsError) -> String {
    let IpvsError::Errno(e) = err else {
        return match op {
            IpvsOp::AddDest { service, dest, .. }
            | IpvsOp::EditDest { service, dest, .. }
            | IpvsOp::DelDest { service, dest } => {
                format!("IPVS refused destination {dest} of service {service}: {err}")
            }
            IpvsOp::AddService { key, .. }
            | IpvsOp::EditService { key, .. }
            | IpvsOp::DelService { key } => {
                format!("IPVS refused service {key}: {err}")
            }
            IpvsOp::StartSync(_) | IpvsOp::StopSync { .. } => {
                format!("IPVS refused to {op}: {err}")
            }
        };
    };
    let e = *e;
    match op {
        IpvsOp::AddService { key, params } | IpvsOp::EditService { key, params } => {
            let reason = match e {
                // ip_vs_add_service/ip_vs_edit_service: ip_vs_scheduler_get() found no scheduler.
                libc::ENOENT => format!(
                    "scheduler '{}' is not loaded in the kernel (ENOENT)",
                    params.scheduler
                ),
                libc::EEXIST => "the service already exists (EEXIST)".to_string(),
                libc::ESRCH => "no such service (ESRCH)".to_string(),
                libc::EAFNOSUPPORT => {
                    "this address family is not supported by IPVS in this kernel (EAFNOSUPPORT)"
                        .to_string()
                }
                _ => errno_text(e),
            };
            format!("IPVS refused service {key}: {reason}")
        }
        IpvsOp::DelService { key } => {
            let reason = if e == libc::ESRCH {
                "no such service (ESRCH)".to_string()
            } else {
                errno_text(e)
            };
            format!("IPVS refused to delete service {key}: {reason}")
        }
        IpvsOp::AddDest { service, dest, .. }
        | IpvsOp::EditDest { service, dest, .. }
        | IpvsOp::DelDest { service, dest } => {
            let reason = match e {
                libc::ESRCH => "no such service (ESRCH)".to_string(),
                libc::EEXIST => "the destination already exists (EEXIST)".to_string(),
                libc::ENOENT => "no such destination (ENOENT)".to_string(),
                libc::EINVAL if dest.address.is_ipv4() != service.address.is_ipv4() => {
                    "a destination of the other address family needs tunnel forwarding (EINVAL)"
                        .to_string()
                }
                _ => errno_text(e),
            };
            format!("IPVS refused destination {dest} of service {service}: {reason}")
        }
        IpvsOp::StartSync(d) => {
            let reason = match e {
                libc::EEXIST => "that daemon is already running (EEXIST)".to_string(),
                libc::ENODEV => format!("no interface {:?} (ENODEV)", d.interface),
                _ => errno_text(e),
            };
            format!("IPVS refused to start the {d}: {reason}")
        }
        IpvsOp::StopSync { .. } => {
            let reason = match e {
                libc::ESRCH => "it is not running (ESRCH)".to_string(),
                _ => errno_text(e),
            };
            format!("IPVS refused to {op}: {reason}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Protocol;
    use crate::dataplane::state::{ServiceKey, ServiceParams};

    #[test]
    fn unknown_scheduler_names_the_scheduler() {
        let op = IpvsOp::AddService {
            key: ServiceKey {
                protocol: Protocol::Tcp,
                address: "10.100.0.1".parse().unwrap(),
                port: 80,
            },
            params: ServiceParams {
                scheduler: "mh".into(),
                persistence: 0,
                flags: Default::default(),
            },
        };
        assert_eq!(
            describe(&op, &IpvsError::Errno(libc::ENOENT)),
            "IPVS refused service 10.100.0.1:80/tcp: scheduler 'mh' is not loaded in the kernel (ENOENT)"
        );
    }

    #[test]
    fn missing_family_says_ipvs_is_unavailable() {
        assert_eq!(
            IpvsError::Unavailable.to_string(),
            "IPVS is not available in this kernel: generic netlink family IPVS not found"
        );
    }

    #[test]
    fn other_errnos_get_text_and_name() {
        assert_eq!(errno_text(libc::EINVAL), "Invalid argument (EINVAL)");
    }

    #[test]
    fn errno_names_are_the_libc_names_and_unknown_ones_are_numbered() {
        assert_eq!(errno_name(libc::EOPNOTSUPP), Some("EOPNOTSUPP"));
        assert_eq!(errno_name(libc::ENOBUFS), Some("ENOBUFS"));
        assert_eq!(errno_name(libc::EXDEV), None);
        assert!(errno_text(libc::EXDEV).ends_with(&format!("(errno {})", libc::EXDEV)));
    }
}
