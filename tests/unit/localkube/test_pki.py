"""The local cluster's certificates hold what the API server, etcd and the kubelet check, and TLS accepts them.

The expected profiles were recorded from the certificates the openssl command line made before the PKI moved to
``cryptography``: the same subjects, extensions in the same order with the same criticality, the same validity
and the same PEM formats.
"""

from __future__ import annotations

import datetime
import ssl
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from localkube import pki

API_IPS = ["10.0.0.1", "127.0.0.1", "10.96.0.1"]
API_DNS = [
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
]
LEAF = [
    ("basicConstraints", True, "CA:FALSE"),
    ("keyUsage", True, "digitalSignature,keyEncipherment"),
    ("extendedKeyUsage", False, "serverAuth,clientAuth"),
]
KEY_IDS = [("subjectKeyIdentifier", False, "of its key"), ("authorityKeyIdentifier", False, "of the CA's key")]

# Recorded with `openssl x509 -noout -text` from the certificates the openssl-based pki.py made.
EXPECTED: dict[str, dict[str, Any]] = {
    "ca": {
        "subject": "CN=ferry-localkube-ca",
        "extensions": [
            ("basicConstraints", True, "CA:TRUE"),
            ("keyUsage", True, "digitalSignature,keyCertSign,cRLSign"),
            ("subjectKeyIdentifier", False, "of its key"),
        ],
    },
    "apiserver": {
        "subject": "CN=kube-apiserver",
        "extensions": [
            *LEAF,
            ("subjectAltName", False, ",".join([f"IP:{ip}" for ip in API_IPS] + [f"DNS:{d}" for d in API_DNS])),
            *KEY_IDS,
        ],
    },
    "admin": {"subject": "CN=ferry-admin,O=system:masters", "extensions": [*LEAF, *KEY_IDS]},
    "user in two groups": {"subject": "CN=alice,O=g2,O=g1", "extensions": [*LEAF, *KEY_IDS]},
    "kubelet serving": {
        "subject": "CN=localkube",
        "extensions": [*LEAF, ("subjectAltName", False, "IP:10.0.0.1"), *KEY_IDS],
    },
}

_USAGES = {
    "digital_signature": "digitalSignature",
    "key_encipherment": "keyEncipherment",
    "key_cert_sign": "keyCertSign",
    "crl_sign": "cRLSign",
    "content_commitment": "nonRepudiation",
    "data_encipherment": "dataEncipherment",
    "key_agreement": "keyAgreement",
}


@pytest.fixture
def pairs(tmp_path: Path) -> dict[str, pki.KeyPair]:
    ca = pki.ensure_ca(tmp_path)
    return {
        "ca": ca,
        "apiserver": pki.issue(ca, tmp_path, "apiserver-10.0.0.1", cn="kube-apiserver", ips=API_IPS, dns=API_DNS),
        "admin": pki.issue(ca, tmp_path, "admin", cn="ferry-admin", orgs=["system:masters"]),
        "user in two groups": pki.issue(ca, tmp_path / "users", "alice", cn="alice", orgs=["g1", "g2"]),
        "kubelet serving": pki.issue(ca, tmp_path, "kubelet-serving-0", cn="localkube", ips=["10.0.0.1"]),
    }


def _cert(pair: pki.KeyPair) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pair.cert.read_bytes())


def _describe(ext: x509.Extension[x509.ExtensionType], own: x509.Certificate, ca: x509.Certificate) -> str:
    value = ext.value
    if isinstance(value, x509.BasicConstraints):
        assert value.path_length is None
        return f"CA:{str(value.ca).upper()}"
    if isinstance(value, x509.KeyUsage):
        return ",".join(text for attr, text in _USAGES.items() if getattr(value, attr))
    if isinstance(value, x509.ExtendedKeyUsage):
        return ",".join(str(u._name) for u in value)
    if isinstance(value, x509.SubjectAlternativeName):
        return ",".join(f"IP:{n.value}" if isinstance(n, x509.IPAddress) else f"DNS:{n.value}" for n in value)
    if isinstance(value, x509.SubjectKeyIdentifier):
        assert value == x509.SubjectKeyIdentifier.from_public_key(_ec_public(own))
        return "of its key"
    assert isinstance(value, x509.AuthorityKeyIdentifier)
    assert value.key_identifier == x509.SubjectKeyIdentifier.from_public_key(_ec_public(ca)).digest
    assert value.authority_cert_issuer is None and value.authority_cert_serial_number is None
    return "of the CA's key"


def _ec_public(cert: x509.Certificate) -> ec.EllipticCurvePublicKey:
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return public


def _profile(cert: x509.Certificate, ca: x509.Certificate) -> dict[str, Any]:
    return {
        "subject": cert.subject.rfc4514_string(),
        "extensions": [(str(e.oid._name), e.critical, _describe(e, cert, ca)) for e in cert.extensions],
    }


@pytest.mark.parametrize("which", list(EXPECTED))
def test_each_certificate_holds_the_subject_sans_and_usages_the_openssl_ones_held(
    pairs: dict[str, pki.KeyPair], which: str
) -> None:
    ca = _cert(pairs["ca"])
    cert = _cert(pairs[which])
    assert _profile(cert, ca) == EXPECTED[which]
    assert cert.version == x509.Version.v3
    assert cert.issuer == ca.subject
    assert cert.signature_hash_algorithm is not None and cert.signature_hash_algorithm.name == "sha256"
    assert _ec_public(cert).curve.name == "secp256r1"
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(days=3650)
    now = datetime.datetime.now(datetime.UTC)
    assert cert.not_valid_before_utc <= now < cert.not_valid_before_utc + datetime.timedelta(minutes=5)
    assert 0 < cert.serial_number < 2**159
    cert.verify_directly_issued_by(ca)


def test_subjects_are_the_bytes_openssl_wrote(pairs: dict[str, pki.KeyPair]) -> None:
    # One RDN per part, organizations first, UTF8String values (DER recorded from the openssl-made certificates).
    ca = "301d311b301906035504030c1266657272792d6c6f63616c6b7562652d6361"
    admin = "302f31173015060355040a0c0e73797374656d3a6d6173746572733114301206035504030c0b66657272792d61646d696e"
    alice = "302a310b3009060355040a0c026731310b3009060355040a0c026732310e300c06035504030c05616c696365"
    assert _cert(pairs["ca"]).subject.public_bytes().hex() == ca
    assert _cert(pairs["admin"]).issuer.public_bytes().hex() == ca
    assert _cert(pairs["admin"]).subject.public_bytes().hex() == admin
    assert _cert(pairs["user in two groups"]).subject.public_bytes().hex() == alice


def test_every_certificate_and_key_is_pem_with_the_key_private_to_its_owner(pairs: dict[str, pki.KeyPair]) -> None:
    for pair in pairs.values():
        assert pair.cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----\n")
        assert pair.key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")  # PKCS#8, unencrypted
        assert stat.S_IMODE(pair.key.stat().st_mode) == 0o600
        key = serialization.load_pem_private_key(pair.key.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.public_key() == _cert(pair).public_key()
    assert not list(pairs["ca"].cert.parent.glob("*.csr")) and not list(pairs["ca"].cert.parent.glob("*.ext"))


def test_the_service_account_signing_key_is_a_pkcs8_key_beside_its_public_half(tmp_path: Path) -> None:
    pair = pki.ensure_signing_key(tmp_path)
    assert pair == pki.KeyPair(tmp_path / "sa.pub", tmp_path / "sa.key")
    assert pair.cert.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----\n")
    assert stat.S_IMODE(pair.key.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(pair.key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert serialization.load_pem_public_key(pair.cert.read_bytes()) == key.public_key()


def test_each_file_is_made_once_and_kept_across_calls(tmp_path: Path) -> None:
    ca = pki.ensure_ca(tmp_path)
    admin = pki.issue(ca, tmp_path, "admin", cn="ferry-admin", orgs=["system:masters"])
    signing = pki.ensure_signing_key(tmp_path)
    before = {p: p.read_bytes() for pair in (ca, admin, signing) for p in (pair.cert, pair.key)}
    assert pki.ensure_ca(tmp_path) == ca
    assert pki.issue(ca, tmp_path, "admin", cn="someone-else") == admin
    assert pki.ensure_signing_key(tmp_path) == signing
    assert {p: p.read_bytes() for p in before} == before


def test_a_mutual_tls_handshake_accepts_the_api_server_and_the_admin(pairs: dict[str, pki.KeyPair]) -> None:
    ca = str(pairs["ca"].cert)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=ca)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    server_ctx.load_cert_chain(str(pairs["apiserver"].cert), str(pairs["apiserver"].key))
    for host in ["kubernetes.default.svc", "localhost", "10.96.0.1"]:
        client_ctx = ssl.create_default_context(cafile=ca)
        client_ctx.load_cert_chain(str(pairs["admin"].cert), str(pairs["admin"].key))
        peer = _handshake(server_ctx, client_ctx, host)
        assert dict(x[0] for x in peer["subject"]) == {
            "organizationName": "system:masters",
            "commonName": "ferry-admin",
        }


def test_a_name_outside_the_sans_is_refused(pairs: dict[str, pki.KeyPair]) -> None:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(str(pairs["kubelet serving"].cert), str(pairs["kubelet serving"].key))
    client_ctx = ssl.create_default_context(cafile=str(pairs["ca"].cert))
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server_ctx, client_ctx, "kubernetes.default.svc")
    _handshake(server_ctx, client_ctx, "10.0.0.1")


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, host: str) -> Any:
    """Run a TLS handshake in memory (no socket); returns the client certificate the server saw."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=host)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, end in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            # TLS 1.3: the server checks the client's certificate after the client has finished.
            client.write(b"ping")
            s_in.write(c_out.read())
            assert server.read(4) == b"ping"
            return server.getpeercert()
    raise AssertionError("handshake did not finish")
