use super::*;

#[test]
fn status_carries_node_identity_and_backend_details() {
    let mut state = NodeState::new(&web());
    programmed(&mut state);
    let _ = feed(&mut state, "10.0.10.12", false, Instant::now());
    let status = state.status(vec![]);
    assert_eq!(status.node.router_id, "10.0.1.2");
    assert_eq!(status.node.asn, 65001);
    let b = &status.vips[0].services[0].backends[1];
    assert_eq!(b.address, "10.0.10.12");
    assert_eq!(b.weight, 50);
    assert_eq!(b.effective_weight, 0);
    assert_eq!(b.last_result.as_deref(), Some("HTTP 503"));
    assert!(!status.vips[0].services[0].healthy);
}
