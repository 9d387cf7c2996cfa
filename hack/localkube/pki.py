"""Certificates and keys for a local cluster, made with the ``openssl`` command line (EC P-256)."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_DAYS = "3650"
_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path


def _openssl(*args: str) -> None:
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl command is required to make the local cluster's certificates")
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.strip()}")


def _subject(cn: str, orgs: Sequence[str]) -> str:
    parts = [f"/O={_escape(o)}" for o in orgs] + [f"/CN={_escape(cn)}"]
    return "".join(parts)


def _escape(value: str) -> str:
    if any(c in value for c in "/+=\\,"):
        raise ValueError(f"unsupported character in certificate subject part {value!r}")
    return value


def ensure_ca(directory: Path) -> KeyPair:
    """Create (once) the cluster's self-signed CA in ``directory``."""
    pair = KeyPair(directory / "ca.crt", directory / "ca.key")
    if pair.cert.exists() and pair.key.exists():
        return pair
    directory.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req",
        "-x509",
        *_EC,
        "-keyout",
        str(pair.key),
        "-out",
        str(pair.cert),
        "-days",
        _DAYS,
        "-subj",
        "/CN=ferry-localkube-ca",
        "-config",
        "/dev/null",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    )
    return pair


def issue(
    ca: KeyPair,
    directory: Path,
    name: str,
    *,
    cn: str,
    orgs: Sequence[str] = (),
    ips: Sequence[str] = (),
    dns: Sequence[str] = (),
) -> KeyPair:
    """Create (once) a leaf certificate signed by ``ca``, usable as client and (with SANs) server cert."""
    pair = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    if pair.cert.exists() and pair.key.exists():
        return pair
    directory.mkdir(parents=True, exist_ok=True)
    csr = directory / f"{name}.csr"
    ext = directory / f"{name}.ext"
    lines = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth,clientAuth",
    ]
    sans = [f"IP:{ip}" for ip in ips] + [f"DNS:{d}" for d in dns]
    if sans:
        lines.append("subjectAltName=" + ",".join(sans))
    ext.write_text("\n".join(lines) + "\n")
    _openssl(
        "req",
        "-new",
        *_EC,
        "-keyout",
        str(pair.key),
        "-out",
        str(csr),
        "-subj",
        _subject(cn, orgs),
        "-config",
        "/dev/null",
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca.cert),
        "-CAkey",
        str(ca.key),
        "-set_serial",
        "0x" + secrets.token_hex(16),
        "-days",
        _DAYS,
        "-extfile",
        str(ext),
        "-out",
        str(pair.cert),
    )
    csr.unlink()
    ext.unlink()
    pair.key.chmod(0o600)
    return pair


def ensure_signing_key(directory: Path) -> KeyPair:
    """Create (once) the service-account token signing key; ``cert`` holds the public key."""
    pair = KeyPair(directory / "sa.pub", directory / "sa.key")
    if pair.cert.exists() and pair.key.exists():
        return pair
    directory.mkdir(parents=True, exist_ok=True)
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(pair.key))
    _openssl("pkey", "-in", str(pair.key), "-pubout", "-out", str(pair.cert))
    pair.key.chmod(0o600)
    return pair
