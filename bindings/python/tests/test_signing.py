"""squall._signing: round trips, rejection of bad values, and interoperability
with Tornado's signed values in both directions."""
from __future__ import annotations

import pytest

from squall._signing import create_signed_value, decode_signed_value, get_signature_key_version

SECRET = "0123456789abcdef" * 2
NOW = 1_700_000_000.0


def clock(t=NOW):
    return lambda: t


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("value", ["hello", b"\x00\xff binary", "caf\u00e9|with|pipes", ""])
def test_round_trip(version, value):
    signed = create_signed_value(SECRET, "session", value, version=version, clock=clock())
    expected = value.encode() if isinstance(value, str) else value
    got = decode_signed_value(SECRET, "session", signed, clock=clock())
    if expected:
        assert got == expected
    else:
        assert got == b""
    assert decode_signed_value(SECRET, "session", signed.decode(), clock=clock()) == got


def test_format_v2():
    signed = create_signed_value(SECRET, "n", "v", clock=clock())
    assert signed.startswith(b"2|1:0|10:1700000000|1:n|4:dg==|")
    assert len(signed.rsplit(b"|", 1)[1]) == 64


def test_rejections():
    signed = create_signed_value(SECRET, "session", "data", clock=clock())
    assert decode_signed_value(SECRET, "session", signed, clock=clock()) == b"data"
    # wrong name, wrong secret
    assert decode_signed_value(SECRET, "other", signed, clock=clock()) is None
    assert decode_signed_value("x" * 32, "session", signed, clock=clock()) is None
    # expired / within max age
    assert decode_signed_value(SECRET, "session", signed, clock=clock(NOW + 32 * 86400)) is None
    assert decode_signed_value(SECRET, "session", signed, clock=clock(NOW + 2 * 86400), max_age_days=1) is None
    assert decode_signed_value(SECRET, "session", signed, clock=clock(NOW + 2 * 86400), max_age_days=3) == b"data"
    # every single-byte change is refused
    for i in range(len(signed)):
        for repl in (b"0", b"Z", b"|"):
            forged = signed[:i] + repl + signed[i + 1:]
            if forged != signed:
                assert decode_signed_value(SECRET, "session", forged, clock=clock()) is None, (i, repl)
    # truncations and junk never raise
    for i in range(len(signed)):
        assert decode_signed_value(SECRET, "session", signed[:i], clock=clock()) is None
    for junk in [None, "", "2|", "2|x:y", "2|1:0|", "|||", "3|1:0|10:1700000000|1:n|4:dg==|ab", b"\xff\xfe"]:
        assert decode_signed_value(SECRET, "session", junk, clock=clock()) is None
    # min_version
    v1 = create_signed_value(SECRET, "session", "data", version=1, clock=clock())
    assert decode_signed_value(SECRET, "session", v1, clock=clock()) == b"data"
    assert decode_signed_value(SECRET, "session", v1, clock=clock(), min_version=2) is None
    # v1: future timestamps and wrong secrets
    assert decode_signed_value(SECRET, "session", v1, clock=clock(NOW - 40 * 86400)) is None
    assert decode_signed_value("y" * 32, "session", v1, clock=clock()) is None


def test_key_versions():
    secrets = {0: "a" * 32, 1: "b" * 32}
    signed = create_signed_value(secrets, "k", "v", key_version=1, clock=clock())
    assert get_signature_key_version(signed) == 1
    assert decode_signed_value(secrets, "k", signed, clock=clock()) == b"v"
    assert decode_signed_value({0: "a" * 32}, "k", signed, clock=clock()) is None
    assert decode_signed_value("b" * 32, "k", signed, clock=clock()) == b"v"  # plain key: version ignored
    with pytest.raises(ValueError):
        create_signed_value(secrets, "k", "v", clock=clock())
    with pytest.raises(ValueError):
        create_signed_value(SECRET, "k", "v", version=3)


def test_interop_with_tornado():
    tweb = pytest.importorskip("tornado.web")
    for version in (1, 2):
        for value in ["hello", "caf\u00e9", "x" * 300]:
            ours = create_signed_value(SECRET, "user", value, version=version, clock=clock())
            theirs = tweb.create_signed_value(SECRET, "user", value, version=version, clock=clock())
            assert ours == theirs
            assert tweb.decode_signed_value(SECRET, "user", ours, clock=clock()) == value.encode()
            assert decode_signed_value(SECRET, "user", theirs, clock=clock()) == value.encode()
            assert tweb.decode_signed_value(SECRET, "other", ours, clock=clock()) is None
    secrets = {3: "k3" * 16, 4: "k4" * 16}
    ours = create_signed_value(secrets, "user", "rot", key_version=4, clock=clock())
    theirs = tweb.create_signed_value(secrets, "user", "rot", key_version=4, clock=clock())
    assert ours == theirs
    assert tweb.decode_signed_value(secrets, "user", ours, clock=clock()) == b"rot"
    assert decode_signed_value(secrets, "user", theirs, clock=clock()) == b"rot"
    # expiry agrees
    old = tweb.create_signed_value(SECRET, "user", "v", clock=clock(NOW - 40 * 86400))
    assert decode_signed_value(SECRET, "user", old, clock=clock()) is None
    assert tweb.decode_signed_value(SECRET, "user", old, clock=clock()) is None
