"""Signed values (signed cookies) in Tornado's format, so that a cookie made by
a Tornado app is read by its squall port and back.

Version 2 (the default)::

    2|1:<key_version>|10:<unix time>|<n>:<name>|<n>:<base64 value>|<hex HMAC-SHA256>

where each ``<n>:`` is the byte length of the field that follows and the MAC
covers everything before it (including the last ``|``). Version 1
(``<base64 value>|<time>|<hex HMAC-SHA1 of name, value, time>``) is read
and written for old cookies. ``secret`` is a str/bytes key, or for version 2
a dict ``{key_version: key}`` so that keys can be rotated: the value records
the version of the key that signed it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import logging
import time
from typing import Callable, Optional, Union

__all__ = ["create_signed_value", "decode_signed_value", "get_signature_key_version",
           "DEFAULT_SIGNED_VALUE_VERSION", "DEFAULT_SIGNED_VALUE_MIN_VERSION"]

DEFAULT_SIGNED_VALUE_VERSION = 2
DEFAULT_SIGNED_VALUE_MIN_VERSION = 1

gen_log = logging.getLogger("squall.general")

SecretType = Union[str, bytes, dict[int, Union[str, bytes]]]


def _b(s: Union[str, bytes]) -> bytes:
    return s.encode("utf-8") if isinstance(s, str) else s


def _mac_v1(secret: Union[str, bytes], *parts: bytes) -> bytes:
    h = hmac.new(_b(secret), digestmod=hashlib.sha1)
    for p in parts:
        h.update(p)
    return h.hexdigest().encode("ascii")


def _mac_v2(secret: Union[str, bytes], data: bytes) -> bytes:
    return hmac.new(_b(secret), data, digestmod=hashlib.sha256).hexdigest().encode("ascii")


def _field(data: Union[str, bytes]) -> bytes:
    raw = _b(data)
    return str(len(raw)).encode("ascii") + b":" + raw


def create_signed_value(secret: SecretType, name: str, value: Union[str, bytes], version: Optional[int] = None,
                        clock: Optional[Callable[[], float]] = None, key_version: Optional[int] = None) -> bytes:
    """Signs and timestamps ``value`` so that it cannot be forged; ``name``
    binds it to one use (the cookie name). ``clock`` (default ``time.time``)
    is for tests."""
    if version is None:
        version = DEFAULT_SIGNED_VALUE_VERSION
    now = int((clock or time.time)())
    timestamp = str(now).encode("ascii")
    encoded = base64.b64encode(_b(value))
    if version == 1:
        if isinstance(secret, dict):
            raise ValueError("a dict of secrets needs signed value version 2")
        return b"|".join([encoded, timestamp, _mac_v1(secret, _b(name), encoded, timestamp)])
    if version == 2:
        if isinstance(secret, dict):
            if key_version is None:
                raise ValueError("key_version is needed with a dict of secrets")
            key = secret[key_version]
        else:
            key = secret
        signed = b"|".join([b"2", _field(str(key_version or 0)), _field(timestamp), _field(name),
                            _field(encoded), b""])
        return signed + _mac_v2(key, signed)
    raise ValueError(f"Unsupported version {version}")


_VERSION_RE = re.compile(rb"^([1-9][0-9]*)\|")


def _version_of(value: bytes) -> int:
    m = _VERSION_RE.match(value)
    if m is None:
        return 1
    version = int(m.group(1))
    # A version-1 value starts with base64 text, which may be all digits; a
    # real version field is small.
    return 1 if version > 999 else version


def decode_signed_value(secret: SecretType, name: str, value: Union[None, str, bytes], max_age_days: float = 31,
                        clock: Optional[Callable[[], float]] = None,
                        min_version: Optional[int] = None) -> Optional[bytes]:
    """The value signed by ``create_signed_value``, or None when ``value``
    is missing, malformed, forged, for another ``name``, older than
    ``max_age_days``, or of a version below ``min_version``."""
    if min_version is None:
        min_version = DEFAULT_SIGNED_VALUE_MIN_VERSION
    if min_version > 2:
        raise ValueError(f"Unsupported min_version {min_version}")
    if not value:
        return None
    try:
        raw = _b(value)
    except Exception:
        return None
    now = (clock or time.time)()
    version = _version_of(raw)
    if version < min_version:
        return None
    try:
        if version == 1:
            return _decode_v1(secret, name, raw, max_age_days, now)
        if version == 2:
            return _decode_v2(secret, name, raw, max_age_days, now)
    except (ValueError, KeyError, TypeError, IndexError, UnicodeError):
        return None
    return None


def _decode_v1(secret: SecretType, name: str, raw: bytes, max_age_days: float, now: float) -> Optional[bytes]:
    if isinstance(secret, dict):
        return None
    parts = raw.split(b"|")
    if len(parts) != 3:
        return None
    encoded, timestamp, mac = parts
    if not hmac.compare_digest(mac, _mac_v1(secret, _b(name), encoded, timestamp)):
        gen_log.warning("Invalid cookie signature %r", raw)
        return None
    if not timestamp.isdigit():
        return None
    if timestamp.startswith(b"0"):
        # a leading zero would let "1|2" and "12|" sign alike
        gen_log.warning("Tampered cookie %r", raw)
        return None
    ts = int(timestamp)
    if ts < now - max_age_days * 86400:
        gen_log.warning("Expired cookie %r", raw)
        return None
    if ts > now + 31 * 86400:
        # version 1 signs name, value and time without separators, so a
        # timestamp far ahead is how a shifted split shows (as Tornado logs it)
        gen_log.warning("Cookie timestamp in future; possible tampering %r", raw)
        return None
    return base64.b64decode(encoded, validate=True)


def _take_field(data: bytes) -> tuple[bytes, bytes]:
    """Splits ``<n>:<n bytes>|rest`` into the field and the rest."""
    length, colon, rest = data.partition(b":")
    if not colon or not length.isdigit():
        raise ValueError("malformed field")
    n = int(length)
    if rest[n:n + 1] != b"|":
        raise ValueError("malformed field")
    return rest[:n], rest[n + 1:]


def _split_v2(raw: bytes) -> tuple[int, bytes, bytes, bytes, bytes, bytes]:
    rest = raw[2:]  # after "2|"
    key_version, rest = _take_field(rest)
    timestamp, rest = _take_field(rest)
    name_field, rest = _take_field(rest)
    value_field, mac = _take_field(rest)
    signed = raw[: len(raw) - len(mac)]
    return int(key_version), timestamp, name_field, value_field, mac, signed


def _decode_v2(secret: SecretType, name: str, raw: bytes, max_age_days: float, now: float) -> Optional[bytes]:
    key_version, timestamp, name_field, value_field, mac, signed = _split_v2(raw)
    key = secret[key_version] if isinstance(secret, dict) else secret
    if not hmac.compare_digest(mac, _mac_v2(key, signed)):
        return None
    if not hmac.compare_digest(name_field, _b(name)):
        return None
    if not timestamp.isdigit() or int(timestamp) < now - max_age_days * 86400:
        return None
    return base64.b64decode(value_field, validate=True)


def get_signature_key_version(value: Union[str, bytes]) -> Optional[int]:
    """The key version recorded in a version-2 signed value (None otherwise)."""
    raw = _b(value)
    if _version_of(raw) < 2:
        return None
    try:
        return _split_v2(raw)[0]
    except ValueError:
        return None
