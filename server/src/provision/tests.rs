//! The parts that need no broker: the CA kept in the registry, certificates and revocation
//! lists. The whole flow runs against a real mosquitto in `tests/provision.rs`.

use std::time::Duration;

use super::*;

#[test]
fn the_fleet_ca_is_created_once_and_kept() {
    let registry = Registry::in_memory().unwrap();
    let a = fleet_ca(&registry, "test CA").unwrap();
    let b = fleet_ca(&registry, "another name is ignored").unwrap();
    assert_eq!(a.certificate_pem(), b.certificate_pem());
    assert_eq!(*a.key_pem(), *b.key_pem());
    assert!(!format!("{a:?}").contains("PRIVATE"));
}

#[test]
fn a_reloaded_ca_issues_certificates_and_lists() {
    let registry = Registry::in_memory().unwrap();
    let first = fleet_ca(&registry, "test CA").unwrap();
    let ca = fleet_ca(&registry, "test CA").unwrap();
    let serial = ca::new_serial().unwrap();
    assert_eq!(serial[0] & 0xc0, 0x40, "positive, no leading zero");
    let cert = ca.issue(DeviceId(0x2a), &[7; 32], &serial, Duration::from_secs(3600)).unwrap();
    assert_eq!(cert[0], 0x30, "DER");
    // The certificate holds the device's key and its id as common name.
    assert!(cert.windows(32).any(|w| w == [7; 32]));
    assert!(cert.windows(2).any(|w| w == b"2a"));
    // The CA as created issues too. (That the broker accepts what the reloaded CA issues is
    // shown against mosquitto: the provisioning tests' service always reloads it.)
    assert!(first.issue(DeviceId(0x2a), &[7; 32], &serial, Duration::from_secs(3600)).is_ok());
    let crl = ca.crl_pem(&[(serial, time::OffsetDateTime::now_utc())], 3, Duration::from_secs(3600)).unwrap();
    assert!(crl.starts_with("-----BEGIN X509 CRL-----"), "{crl}");
}
