//! The HTTP endpoint: /healthz, /status, /metrics and the drain controls.
