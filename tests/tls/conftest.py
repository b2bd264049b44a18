"""Fixtures for the TLS server suite: a test CA and certificates made at test
time (trustme, and openssl for the key forms trustme does not write), and
the C demo server (SQUALL_DEMO, as in tests/conformance) started with
SQUALL_TLS_CERT / SQUALL_TLS_KEY. No private key is ever committed."""
import importlib.util
import subprocess
from pathlib import Path

import pytest
import trustme

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("conformance_conftest", HERE.parent / "conformance" / "conftest.py")
_conformance = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conformance)
Demo = _conformance.Demo


def openssl(*args, **kw):
    subprocess.run(["openssl", *args], check=True, capture_output=True, **kw)


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """Files: the CA ("ca"), an ECDSA P-256 leaf for localhost/127.0.0.1
    ("main"), an RSA leaf for other.test ("other"), a second CA with its own
    localhost leaf ("ca2", "main2") for the reload test."""
    d = tmp_path_factory.mktemp("pki")
    out = {}
    ca = trustme.CA()
    ca.cert_pem.write_to_path(d / "ca.pem")
    out["ca"] = str(d / "ca.pem")
    leaf = ca.issue_cert("localhost", "127.0.0.1", key_type=trustme.KeyType.ECDSA)
    leaf.cert_chain_pems[0].write_to_path(d / "main.pem")
    for extra in leaf.cert_chain_pems[1:]:
        extra.write_to_path(d / "main.pem", append=True)
    leaf.private_key_pem.write_to_path(d / "main.key")
    out["main"] = (str(d / "main.pem"), str(d / "main.key"))
    other = ca.issue_cert("other.test", "*.wild.test", key_type=trustme.KeyType.RSA)
    other.cert_chain_pems[0].write_to_path(d / "other.pem")
    other.private_key_pem.write_to_path(d / "other.key")
    out["other"] = (str(d / "other.pem"), str(d / "other.key"))
    ca2 = trustme.CA()
    ca2.cert_pem.write_to_path(d / "ca2.pem")
    out["ca2"] = str(d / "ca2.pem")
    leaf2 = ca2.issue_cert("localhost", "127.0.0.1")
    leaf2.cert_chain_pems[0].write_to_path(d / "main2.pem")
    leaf2.private_key_pem.write_to_path(d / "main2.key")
    out["main2"] = (str(d / "main2.pem"), str(d / "main2.key"))
    out["dir"] = d
    return out


def tls_env(pki, which="main", **extra):
    cert, key = pki[which]
    env = {"SQUALL_TLS_CERT": cert, "SQUALL_TLS_KEY": key}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def tls_demo(pki):
    """The demo with the main certificate (default) and other.test by SNI."""
    cert2, key2 = pki["other"]
    d = Demo(tls_env(pki, SQUALL_TLS_CERT2=cert2, SQUALL_TLS_KEY2=key2, SQUALL_HEADER_TIMEOUT_MS="1500"))
    yield d
    d.stop()  # asserts a clean stop


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "layer: exercises the TLS layer in the Rust core only (handshake, records, "
        "alerts, limits); the front's part is handing it the configuration, so "
        "`make test-tls-fronts` runs the other tests against the Python and Go demos "
        "(-m 'not layer') and `make test-tls` runs all against the C demo")
