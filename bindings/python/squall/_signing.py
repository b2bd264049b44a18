"""Signed values (``set_signed_cookie``), in the format Tornado calls
version 2, so cookies signed by either decode in the other:

    2|1:<key version>|<len>:<timestamp>|<len>:<name>|<len>:<base64 value>|<hex HMAC-SHA256>

(the key-version field is ``1:0`` when the secret is a single key). The
signature covers everything before it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any, Callable, Optional, Union

__all__ = ["create_signed_value", "decode_signed_value", "get_signature_key_version"]

DEFAULT_SIGNED_VALUE_VERSION = 2
DEFAULT_SIGNED_VALUE_MIN_VERSION = 1


def _b(v: Union[str, bytes]) -> bytes:
    return v.encode("utf-8") if isinstance(v, str) else v


def _field(v: Union[str, bytes]) -> bytes:
    v = _b(v)
    return b"%d:%s" % (len(v), v)


def _sign_v2(secret: Union[str, bytes], data: bytes) -> bytes:
    return hmac.new(_b(secret), data, hashlib.sha256).hexdigest().encode("ascii")


def _sign_v1(secret: Union[str, bytes], *parts: bytes) -> bytes:
    h = hmac.new(_b(secret), digestmod=hashlib.sha1)
    for p in parts:
        h.update(p)
    return h.hexdigest().encode("ascii")


def create_signed_value(secret: Any, name: str, value: Union[str, bytes], version: Optional[int] = None,
                        clock: Optional[Callable[[], float]] = None, key_version: Optional[int] = None) -> bytes:
    if version is None:
        version = DEFAULT_SIGNED_VALUE_VERSION
    timestamp = b"%d" % int((clock or time.time)())
    value_b64 = base64.b64encode(_b(value))
    if version == 1:
        if isinstance(secret, dict):
            raise ValueError("key versions need signed value version 2")
        sig = _sign_v1(secret, _b(name), value_b64, timestamp)
        return b"|".join([value_b64, timestamp, sig])
    if version != 2:
        raise ValueError("Unsupported version %d" % version)
    if isinstance(secret, dict):
        if key_version is None or key_version not in secret:
            raise ValueError("key_version must name a key of the secret dict")
        key = secret[key_version]
    else:
        key, key_version = secret, 0
    to_sign = b"|".join([b"2", _field(str(key_version)), _field(timestamp), _field(name), _field(value_b64), b""])
    return to_sign + _sign_v2(key, to_sign)


def _consume_field(s: bytes) -> tuple[bytes, bytes]:
    length, _, rest = s.partition(b":")
    n = int(length)
    value = rest[:n]
    if rest[n:n + 1] != b"|":
        raise ValueError("malformed v2 signed value field")
    return value, rest[n + 1:]


def _decode_fields_v2(value: bytes) -> tuple[int, bytes, bytes, bytes, bytes]:
    rest = value[2:]  # drop "2|"
    key_version, rest = _consume_field(rest)
    timestamp, rest = _consume_field(rest)
    name, rest = _consume_field(rest)
    value_b64, passed_sig = _consume_field(rest)
    return int(key_version), timestamp, name, value_b64, passed_sig


def get_signature_key_version(value: Union[str, bytes]) -> Optional[int]:
    v = _b(value)
    if not v.startswith(b"2|"):
        return None
    try:
        return _decode_fields_v2(v)[0]
    except ValueError:
        return None


def decode_signed_value(secret: Any, name: str, value: Union[None, str, bytes], max_age_days: float = 31,
                        clock: Optional[Callable[[], float]] = None, min_version: Optional[int] = None) -> Optional[bytes]:
    """The value, or None when the signature, name or age does not check out."""
    if not value:
        return None
    if min_version is None:
        min_version = DEFAULT_SIGNED_VALUE_MIN_VERSION
    v = _b(value)
    now = (clock or time.time)()
    try:
        if v.startswith(b"2|"):
            if min_version > 2:
                return None
            key_version, timestamp, passed_name, value_b64, passed_sig = _decode_fields_v2(v)
            signed = v[: len(v) - len(passed_sig)]
            if isinstance(secret, dict):
                if key_version not in secret:
                    return None
                key = secret[key_version]
            else:
                key = secret
            if not hmac.compare_digest(passed_sig, _sign_v2(key, signed)):
                return None
            if passed_name != _b(name):
                return None
        else:
            if min_version > 1 or isinstance(secret, dict):
                return None
            parts = v.split(b"|")
            if len(parts) != 3:
                return None
            value_b64, timestamp, passed_sig = parts
            if not hmac.compare_digest(passed_sig, _sign_v1(secret, _b(name), value_b64, timestamp)):
                return None
        ts = int(timestamp)
        if ts < now - max_age_days * 86400 or ts > now + 31 * 86400:
            return None
        return base64.b64decode(value_b64, validate=True)
    except (ValueError, TypeError):
        return None
