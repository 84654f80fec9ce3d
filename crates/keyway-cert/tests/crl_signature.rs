//! `Crl::is_signed_by`: a CRL belongs to the CA whose key verifies its signature, whatever the
//! names say.

use keyway_cert::testing::{CertSpec, Issued};
use keyway_cert::time::{Duration, OffsetDateTime};
use keyway_cert::{Certificate, Crl};

fn ca(name: &str) -> Issued {
    Issued::self_signed(&CertSpec {
        common_name: name.into(),
        is_ca: true,
        ..Default::default()
    })
}

#[test]
fn a_crl_is_signed_by_its_ca_only() {
    let contoso = ca("Contoso CA");
    // Same subject name, another key: a name match is no proof.
    let impostor = ca("Contoso CA");
    let crl =
        Crl::from_der(&contoso.crl(&[&[1]], OffsetDateTime::now_utc(), Duration::days(7))).unwrap();
    let cert = |i: &Issued| Certificate::from_der(i.der()).unwrap();
    assert!(crl.is_signed_by(&cert(&contoso)));
    assert!(!crl.is_signed_by(&cert(&impostor)));
}
