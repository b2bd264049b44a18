"""``squall.httputil``: HTTP helpers with Tornado's names: ``HTTPHeaders``,
body-argument and multipart parsing, cookies, timestamps."""
from __future__ import annotations

import calendar
import datetime
import email.utils
import logging
import re
import time
import urllib.parse
from http.client import responses
from typing import Any, Iterator, Optional, Union

__all__ = ["HTTPHeaders", "HTTPFile", "ObjectDict", "HTTPInputError", "HTTPOutputError", "parse_body_arguments",
           "parse_multipart_form_data", "url_concat", "format_timestamp", "parse_cookie", "parse_header",
           "split_host_and_port", "qs_to_qsl", "responses", "HTTPServerRequest"]

gen_log = logging.getLogger("squall.general")


class HTTPInputError(Exception):
    """Malformed HTTP input."""


class HTTPOutputError(Exception):
    """Malformed HTTP output."""


class ObjectDict(dict):
    """A dict whose keys are also attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


class HTTPFile(ObjectDict):
    """An uploaded file: ``filename``, ``body`` (bytes), ``content_type``."""


_canon_cache: dict[str, str] = {}


def _canonical(name: str) -> str:
    c = _canon_cache.get(name)
    if c is None:
        c = "-".join(w.capitalize() for w in name.split("-"))
        if len(_canon_cache) < 1000:
            _canon_cache[name] = c
    return c


class HTTPHeaders(dict):
    """Case-insensitive headers that keep repeated values: ``h["Set-Cookie"]``
    is the values joined by commas, ``get_list`` gives each, ``get_all``
    yields every (name, value) pair."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self._lists: dict[str, list[str]] = {}
        self._last_key: Optional[str] = None
        if len(args) == 1 and not kwargs and isinstance(args[0], HTTPHeaders):
            for k, v in args[0].get_all():
                self.add(k, v)
        else:
            self.update(*args, **kwargs)

    def add(self, name: str, value: str) -> None:
        key = _canonical(name)
        self._last_key = key
        if key in self:
            super().__setitem__(key, super().__getitem__(key) + "," + value)
            self._lists[key].append(value)
        else:
            self[key] = value

    def get_list(self, name: str) -> list[str]:
        return list(self._lists.get(_canonical(name), []))

    def get_all(self) -> Iterator[tuple[str, str]]:
        for name, values in self._lists.items():
            for v in values:
                yield name, v

    def parse_line(self, line: str) -> None:
        if line[0:1].isspace():
            if self._last_key is None:
                raise HTTPInputError("first header line cannot start with whitespace")
            extra = " " + line.lstrip()
            self._lists[self._last_key][-1] += extra
            super().__setitem__(self._last_key, super().__getitem__(self._last_key) + extra)
            return
        try:
            name, value = line.split(":", 1)
        except ValueError:
            raise HTTPInputError("no colon in header line") from None
        self.add(name, value.strip())

    @classmethod
    def parse(cls, headers: str) -> "HTTPHeaders":
        h = cls()
        for line in re.split(r"\r?\n", headers):
            if line:
                h.parse_line(line)
        return h

    def __setitem__(self, name: str, value: str) -> None:
        key = _canonical(name)
        super().__setitem__(key, value)
        self._lists[key] = [value]

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(_canonical(name))

    def __delitem__(self, name: str) -> None:
        key = _canonical(name)
        super().__delitem__(key)
        del self._lists[key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(_canonical(name))

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(_canonical(name), default)

    def pop(self, name: str, *default: Any) -> Any:  # type: ignore[override]
        key = _canonical(name)
        self._lists.pop(key, None)
        return super().pop(key, *default)

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for k, v in dict(*args, **kwargs).items():
            self[k] = v

    def setdefault(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        if name not in self:
            self[name] = default
        return self[name]

    def copy(self) -> "HTTPHeaders":
        return HTTPHeaders(self)

    __copy__ = copy

    def __str__(self) -> str:
        return "".join("%s: %s\r\n" % (k, v) for k, v in self.get_all())


def parse_header(line: str) -> tuple[str, dict[str, str]]:
    """``'form-data; name="a"; filename="b.txt"'`` → ``('form-data', {...})``;
    RFC 2231 ``name*=utf-8''...`` values are decoded."""
    parts = _split_params(";" + line)
    key = parts.pop(0).strip().lower() if parts else ""
    params: dict[str, str] = {}
    for p in parts:
        i = p.find("=")
        if i < 0:
            continue
        name = p[:i].strip().lower()
        value = p[i + 1:].strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace("\\\\", "\\").replace('\\"', '"')
        if name.endswith("*"):
            charset, _, rest = value.partition("'")
            _, _, encoded = rest.partition("'")
            try:
                value = urllib.parse.unquote(encoded, encoding=charset or "utf-8", errors="strict")
            except (LookupError, UnicodeDecodeError):
                continue
            name = name[:-1]
        params[name] = value
    return key, params


def _split_params(s: str) -> list[str]:
    out = []
    while s[:1] == ";":
        s = s[1:]
        end = s.find(";")
        while end > 0 and (s.count('"', 0, end) - s.count('\\"', 0, end)) % 2:
            end = s.find(";", end + 1)
        if end < 0:
            end = len(s)
        out.append(s[:end].strip())
        s = s[end:]
    return out


def parse_body_arguments(content_type: str, body: bytes, arguments: dict[str, list[bytes]],
                         files: dict[str, list[HTTPFile]], headers: Any = None) -> None:
    """Adds a urlencoded or multipart body's arguments to ``arguments`` and
    its files to ``files``. Malformed bodies are logged, never raised."""
    if headers is not None and headers.get("Content-Encoding"):
        gen_log.warning("Unsupported Content-Encoding: %s", headers.get("Content-Encoding"))
        return
    if content_type.startswith("application/x-www-form-urlencoded"):
        try:
            pairs = urllib.parse.parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
        except Exception as e:
            gen_log.warning("Invalid x-www-form-urlencoded body: %s", e)
            return
        for name, value in pairs:
            arguments.setdefault(name, []).append(value.encode("latin-1"))
    elif content_type.startswith("multipart/form-data"):
        _, params = parse_header(content_type)
        boundary = params.get("boundary")
        if not boundary:
            gen_log.warning("Invalid multipart/form-data: no boundary")
            return
        parse_multipart_form_data(boundary.encode("latin-1"), body, arguments, files)


def parse_multipart_form_data(boundary: bytes, data: bytes, arguments: dict[str, list[bytes]],
                              files: dict[str, list[HTTPFile]]) -> None:
    if boundary.startswith(b'"') and boundary.endswith(b'"') and len(boundary) >= 2:
        boundary = boundary[1:-1]
    final = data.rfind(b"--" + boundary + b"--")
    if final == -1:
        gen_log.warning("Invalid multipart/form-data: no final boundary")
        return
    for part in data[:final].split(b"--" + boundary + b"\r\n"):
        if not part:
            continue
        head_end = part.find(b"\r\n\r\n")
        if head_end == -1:
            gen_log.warning("multipart/form-data missing headers")
            continue
        try:
            headers = HTTPHeaders.parse(part[:head_end].decode("utf-8"))
        except (HTTPInputError, UnicodeDecodeError):
            gen_log.warning("multipart/form-data has malformed headers")
            continue
        disposition = headers.get("Content-Disposition", "")
        kind, disp = parse_header(disposition)
        if kind != "form-data" or not part.endswith(b"\r\n"):
            gen_log.warning("Invalid multipart/form-data")
            continue
        value = part[head_end + 4:-2]
        name = disp.get("name")
        if not name:
            gen_log.warning("multipart/form-data value missing name")
            continue
        if "filename" in disp:
            files.setdefault(name, []).append(HTTPFile(filename=disp["filename"], body=value,
                                                       content_type=headers.get("Content-Type", "application/unknown")))
        else:
            arguments.setdefault(name, []).append(value)


def url_concat(url: str, args: Any) -> str:
    """Appends query arguments (a dict, or a list of pairs) to ``url``."""
    if args is None:
        return url
    parsed = urllib.parse.urlparse(url)
    query = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)
    if isinstance(args, dict):
        query.extend(args.items())
    elif isinstance(args, (list, tuple)):
        query.extend(args)
    else:
        raise TypeError("'args' must be a dict, list or tuple, not %r" % type(args))
    return urllib.parse.urlunparse(parsed._replace(query=urllib.parse.urlencode(query)))


def format_timestamp(ts: Union[int, float, tuple, time.struct_time, datetime.datetime]) -> str:
    """An HTTP date: ``Sun, 27 Jan 2013 18:43:20 GMT``."""
    if isinstance(ts, (int, float)):
        secs = ts
    elif isinstance(ts, (tuple, time.struct_time)):
        secs = calendar.timegm(ts)  # type: ignore[arg-type]
    elif isinstance(ts, datetime.datetime):
        secs = calendar.timegm(ts.utctimetuple())
    else:
        raise TypeError("unknown timestamp type: %r" % ts)
    return email.utils.formatdate(secs, usegmt=True)


def parse_cookie(cookie: str) -> dict[str, str]:
    """A ``Cookie`` header as browsers send it → {name: value} (lenient, as
    browsers are; quoted values unquoted)."""
    out: dict[str, str] = {}
    for chunk in cookie.split(";"):
        key, eq, val = chunk.partition("=")
        if not eq:
            key, val = "", key
        key, val = key.strip(), val.strip()
        if key or val:
            if len(val) >= 2 and val[0] == val[-1] == '"':
                val = re.sub(r"\\(?:([0-3][0-7][0-7])|(.))",
                             lambda m: chr(int(m.group(1), 8)) if m.group(1) else m.group(2), val[1:-1])
            out[key] = val
    return out


def split_host_and_port(netloc: str) -> tuple[str, Optional[int]]:
    m = re.match(r"^(.+):(\d+)$", netloc)
    if m:
        return m.group(1), int(m.group(2))
    return netloc, None


def qs_to_qsl(qs: dict[str, list[Any]]) -> Iterator[tuple[str, Any]]:
    for k, vs in qs.items():
        for v in vs:
            yield k, v


from ._request import HTTPServerRequest  # noqa: E402  (Tornado's name for the request)
