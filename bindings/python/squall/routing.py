"""``squall.routing``: Tornado 6.6's routing API, written for squall.

A router is an ``httputil.HTTPServerConnectionDelegate``: ``HTTPServer(router)``
serves it (squall's Rust server takes every request and hands it to Python
through ``request.connection``, see ``squall.httpserver``). ``find_handler``
returns an ``HTTPMessageDelegate`` for a request, or None (404).

``RuleRouter`` matches ``Rule(matcher, target, target_kwargs, name)`` in order;
a target is another ``Router``, an ``HTTPServerConnectionDelegate``, a
callable taking the request (the legacy ``request_callback`` interface, which
squall's ``WSGIContainer`` is), or (inside an ``Application``) a
``RequestHandler`` class or a list of nested rules.

Routing in Python costs a few microseconds per request. An ``Application``
whose handlers are plain ``(regex, RequestHandler)`` pairs never comes here:
its routes live in the Rust router.
"""
from __future__ import annotations

import logging
import re
from functools import partial
from typing import Any, Optional, Union

from . import httputil
from .escape import url_escape, url_unescape
from .httputil import HTTPHeaders, HTTPMessageDelegate, HTTPServerConnectionDelegate, ResponseStartLine

app_log = logging.getLogger("squall.application")

__all__ = ["Router", "ReversibleRouter", "RuleRouter", "ReversibleRuleRouter", "Rule", "Matcher",
           "AnyMatches", "HostMatches", "DefaultHostMatches", "PathMatches", "URLSpec"]


class Router(HTTPServerConnectionDelegate):
    """Finds the delegate that handles a request (``find_handler``)."""

    def find_handler(self, request: httputil.HTTPServerRequest, **kwargs: Any) -> Optional[HTTPMessageDelegate]:
        """An ``HTTPMessageDelegate`` for ``request``, or None (the server
        then answers 404). ``kwargs`` are what an outer router's matcher
        found (``path_args``, ``path_kwargs``, ``target_kwargs``)."""
        raise NotImplementedError()

    def start_request(self, server_conn: object, request_conn: httputil.HTTPConnection) -> HTTPMessageDelegate:
        return _RoutingDelegate(self, server_conn, request_conn)


class ReversibleRouter(Router):
    """A router that can build the URL of a named route."""

    def reverse_url(self, name: str, *args: Any) -> Optional[str]:
        raise NotImplementedError()


def _request_of(request_conn: Any, server_conn: object, start_line: Any, headers: HTTPHeaders) -> Any:
    """The request of a connection squall serves (made when the head
    arrived), or one made by hand for any other connection."""
    request = getattr(request_conn, "_request", None)
    if request is None:
        request = httputil.HTTPServerRequest(connection=request_conn, server_connection=server_conn,
                                             start_line=start_line, headers=headers)
    return request


class _RoutingDelegate(HTTPMessageDelegate):
    """Asks the router once the head is in, then passes everything on to
    the delegate it found (404 when there is none)."""

    def __init__(self, router: Any, server_conn: object, request_conn: httputil.HTTPConnection) -> None:
        self.server_conn = server_conn
        self.request_conn = request_conn
        self.delegate: Optional[HTTPMessageDelegate] = None
        self.router = router

    def headers_received(self, start_line: Any, headers: HTTPHeaders) -> Any:
        request = _request_of(self.request_conn, self.server_conn, start_line, headers)
        self.delegate = self.router.find_handler(request)
        if self.delegate is None:
            app_log.debug("Delegate for %s %s request not found", start_line.method, request.path)
            self.delegate = _DefaultMessageDelegate(self.request_conn)
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        assert self.delegate is not None
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        assert self.delegate is not None
        self.delegate.finish()

    def on_connection_close(self) -> None:
        if self.delegate is not None:
            self.delegate.on_connection_close()


class _DefaultMessageDelegate(HTTPMessageDelegate):
    """No route: 404."""

    def __init__(self, connection: httputil.HTTPConnection) -> None:
        self.connection = connection

    def finish(self) -> None:
        self.connection.write_headers(ResponseStartLine("HTTP/1.1", 404, "Not Found"), HTTPHeaders())
        self.connection.finish()


class _CallableAdapter(HTTPMessageDelegate):
    """The legacy interface: collects the body, then calls
    ``request_callback(request)``, which answers through
    ``request.connection`` (or ``request.finish()``-less writes)."""

    def __init__(self, request_callback: Any, request_conn: httputil.HTTPConnection,
                 server_conn: object = None) -> None:
        self.connection = request_conn
        self.server_conn = server_conn
        self.request_callback = request_callback
        self.request: Any = None
        self._chunks: list[bytes] = []

    def headers_received(self, start_line: Any, headers: HTTPHeaders) -> None:
        self.request = _request_of(self.connection, self.server_conn, start_line, headers)

    def data_received(self, chunk: bytes) -> None:
        self._chunks.append(chunk)

    def finish(self) -> None:
        assert self.request is not None
        self.request.body = b"".join(self._chunks)
        self._chunks = []
        self.request._body_arguments = None  # parsed from the body just set, on first use
        self.request._files = None
        self.request._arguments = None
        self.request_callback(self.request)

    def on_connection_close(self) -> None:
        self._chunks = []


class RuleRouter(Router):
    """Tries its rules in order; the first whose matcher matches and whose
    target gives a delegate handles the request."""

    def __init__(self, rules: Any = None) -> None:
        self.rules: list[Rule] = []
        if rules:
            self.add_rules(rules)

    def add_rules(self, rules: Any) -> None:
        """Appends rules: ``Rule`` objects or tuples ``(matcher or path
        regex, target[, target_kwargs[, name]])``."""
        for rule in rules:
            if isinstance(rule, (tuple, list)):
                if len(rule) not in (2, 3, 4):
                    raise ValueError("a rule is (matcher, target[, target_kwargs[, name]]), got %r" % (rule,))
                if isinstance(rule[0], (str, bytes)):
                    pattern = rule[0].decode() if isinstance(rule[0], bytes) else rule[0]
                    rule = Rule(PathMatches(pattern), *rule[1:])
                else:
                    rule = Rule(*rule)
            self.rules.append(self.process_rule(rule))

    def process_rule(self, rule: "Rule") -> "Rule":
        """A hook for subclasses: the rule as it will be kept."""
        return rule

    def find_handler(self, request: Any, **kwargs: Any) -> Optional[HTTPMessageDelegate]:
        for rule in self.rules:
            target_params = rule.matcher.match(request)
            if target_params is not None:
                if rule.target_kwargs:
                    target_params["target_kwargs"] = rule.target_kwargs
                delegate = self.get_target_delegate(rule.target, request, **target_params)
                if delegate is not None:
                    return delegate
        return None

    def get_target_delegate(self, target: Any, request: Any, **target_params: Any) -> Optional[HTTPMessageDelegate]:
        """The delegate of ``target`` for ``request``: a ``Router`` is asked
        (``find_handler``), an ``HTTPServerConnectionDelegate`` starts the
        request, a callable is called with the request once it is read."""
        if isinstance(target, Router) or hasattr(target, "find_handler"):  # a Router, an Application
            found: Optional[HTTPMessageDelegate] = target.find_handler(request, **target_params)
            return found
        if isinstance(target, HTTPServerConnectionDelegate):
            if request.connection is None:
                raise ValueError("a delegate target needs request.connection")
            return target.start_request(request.server_connection, request.connection)
        if callable(target):
            if request.connection is None:
                raise ValueError("a callable target needs request.connection")
            return _CallableAdapter(partial(target, **target_params), request.connection,
                                    request.server_connection)
        return None


class ReversibleRuleRouter(ReversibleRouter, RuleRouter):
    """A ``RuleRouter`` that builds URLs of named rules (and asks nested
    reversible routers for names it does not have)."""

    def __init__(self, rules: Any = None) -> None:
        self.named_rules: dict[str, Rule] = {}
        super().__init__(rules)

    def process_rule(self, rule: "Rule") -> "Rule":
        rule = super().process_rule(rule)
        if rule.name:
            if rule.name in self.named_rules:
                app_log.warning("Multiple handlers named %s; replacing previous value", rule.name)
            self.named_rules[rule.name] = rule
        return rule

    def reverse_url(self, name: str, *args: Any) -> Optional[str]:
        if name in self.named_rules:
            return self.named_rules[name].matcher.reverse(*args)
        for rule in self.rules:
            if isinstance(rule.target, ReversibleRouter):
                url = rule.target.reverse_url(name, *args)
                if url is not None:
                    return url
        return None


class Rule:
    """A routing rule: ``matcher``, ``target``, ``target_kwargs`` (passed to
    the target: a handler's ``initialize``), ``name`` (for ``reverse_url``).
    A ``str`` target is imported by its dotted name."""

    def __init__(self, matcher: "Matcher", target: Any, target_kwargs: Optional[dict[str, Any]] = None,
                 name: Optional[str] = None) -> None:
        if isinstance(target, str):
            from .util import import_object
            target = import_object(target)
        self.matcher = matcher
        self.target = target
        self.target_kwargs = target_kwargs if target_kwargs else {}
        self.name = name

    def reverse(self, *args: Any) -> Optional[str]:
        return self.matcher.reverse(*args)

    def __repr__(self) -> str:
        return "%s(%r, %s, kwargs=%r, name=%r)" % (type(self).__name__, self.matcher, self.target,
                                                   self.target_kwargs, self.name)


class Matcher:
    """Decides whether a request matches: ``match`` returns the parameters
    for the target (a dict, maybe empty) or None."""

    def match(self, request: Any) -> Optional[dict[str, Any]]:
        raise NotImplementedError()

    def reverse(self, *args: Any) -> Optional[str]:
        """The URL this matcher matches, with ``args`` filled in (None when
        it cannot say)."""
        return None


class AnyMatches(Matcher):
    """Every request."""

    def match(self, request: Any) -> Optional[dict[str, Any]]:
        return {}


def _anchored(pattern: Union[str, "re.Pattern[str]"]) -> "re.Pattern[str]":
    if isinstance(pattern, str):
        if not pattern.endswith("$"):
            pattern += "$"
        return re.compile(pattern)
    return pattern


class HostMatches(Matcher):
    """Requests whose host (without the port) matches a regular expression
    (a ``str`` is anchored at its end)."""

    def __init__(self, host_pattern: Union[str, "re.Pattern[str]"]) -> None:
        self.host_pattern = _anchored(host_pattern)

    def match(self, request: Any) -> Optional[dict[str, Any]]:
        if self.host_pattern.match(request.host_name):
            return {}
        return None

    def __repr__(self) -> str:
        return "HostMatches(%r)" % self.host_pattern.pattern


class DefaultHostMatches(Matcher):
    """Requests when the application's ``default_host`` matches the pattern,
    unless they came through a proxy that set ``X-Real-Ip``."""

    def __init__(self, application: Any, host_pattern: "re.Pattern[str]") -> None:
        self.application = application
        self.host_pattern = host_pattern

    def match(self, request: Any) -> Optional[dict[str, Any]]:
        if "X-Real-Ip" not in request.headers:
            if self.host_pattern.match(getattr(self.application, "default_host", None) or ""):
                return {}
        return None


def _unquote_or_none(s: Optional[str]) -> Optional[bytes]:
    """A path group percent-decoded to bytes (``+`` stays); None stays."""
    if s is None:
        return s
    return url_unescape(s, encoding=None, plus=False)


class PathMatches(Matcher):
    """Requests whose path matches a regular expression (anchored at its
    end). The groups become ``path_args`` (or ``path_kwargs`` for named
    groups), percent-decoded to bytes."""

    def __init__(self, path_pattern: Union[str, "re.Pattern[str]"]) -> None:
        self.regex = _anchored(path_pattern)
        self._path, self._group_count = self._reverse_template()

    def match(self, request: Any) -> Optional[dict[str, Any]]:
        m = self.regex.match(request.path)
        if m is None:
            return None
        if not self.regex.groups:
            return {}
        path_args: list[Any] = []
        path_kwargs: dict[str, Any] = {}
        if self.regex.groupindex:
            path_kwargs = {str(k): _unquote_or_none(v) for k, v in m.groupdict().items()}
        else:
            path_args = [_unquote_or_none(s) for s in m.groups()]
        return dict(path_args=path_args, path_kwargs=path_kwargs)

    def reverse(self, *args: Any) -> Optional[str]:
        if self._path is None:
            raise ValueError("Cannot reverse url regex " + self.regex.pattern)
        if len(args) != self._group_count:
            raise ValueError("required number of arguments not found")
        if not args:
            return self._path
        parts = []
        for a in args:
            if not isinstance(a, (str, bytes)):
                a = str(a)
            parts.append(url_escape(a, plus=False))
        return self._path % tuple(parts)

    def _reverse_template(self) -> tuple[Optional[str], Optional[int]]:
        """``/a/%s/b`` for ``^/a/([^/]+)/b$``: literal text around simple
        (unnested) groups; (None, None) when the pattern is not that."""
        pattern = self.regex.pattern
        if pattern.startswith("^"):
            pattern = pattern[1:]
        if pattern.endswith("$"):
            pattern = pattern[:-1]
        if self.regex.groups != pattern.count("("):
            return None, None  # nested groups, or escaped parentheses: cannot say
        out: list[str] = []
        for piece in re.split(r"(\([^)]*\))", pattern):
            if piece.startswith("(") and piece.endswith(")"):
                out.append("%s")
                continue
            if not piece:
                continue
            literal = []
            i = 0
            while i < len(piece):
                c = piece[i]
                if c == "\\" and i + 1 < len(piece) and not piece[i + 1].isalnum():
                    literal.append(piece[i + 1])
                    i += 2
                    continue
                if c in "\\[]{}*+?|.^$":
                    return None, None
                literal.append(c)
                i += 1
            out.append("".join(literal).replace("%", "%%"))
        return "".join(out), self.regex.groups

    def __repr__(self) -> str:
        return "PathMatches(%r)" % self.regex.pattern


class URLSpec(Rule):
    """A path rule whose target is a handler (Tornado's ``URLSpec``):
    ``pattern``, ``handler``, ``kwargs``, ``name``; ``regex``,
    ``handler_class``, ``reverse()``."""

    def __init__(self, pattern: Union[str, "re.Pattern[str]"], handler: Any,
                 kwargs: Optional[dict[str, Any]] = None, name: Optional[str] = None) -> None:
        matcher = PathMatches(pattern)
        super().__init__(matcher, handler, kwargs, name)
        self.regex = matcher.regex
        self.handler_class = self.target
        self.kwargs = kwargs

    def __repr__(self) -> str:
        return "%s(%r, %s, kwargs=%r, name=%r)" % (type(self).__name__, self.regex.pattern,
                                                   self.handler_class, self.kwargs, self.name)


class _ApplicationRouter(ReversibleRuleRouter):
    """An ``Application``'s rules: a ``RequestHandler`` class target runs
    through ``application.get_handler_delegate``; a list target is a nested
    set of rules of the same application."""

    def __init__(self, application: Any, rules: Any = None) -> None:
        self.application = application
        super().__init__(rules)

    def process_rule(self, rule: Rule) -> Rule:
        rule = super().process_rule(rule)
        if isinstance(rule.target, (list, tuple)):
            rule.target = _ApplicationRouter(self.application, rule.target)
        return rule

    def get_target_delegate(self, target: Any, request: Any, **target_params: Any) -> Optional[HTTPMessageDelegate]:
        from .web import RequestHandler
        if isinstance(target, type) and issubclass(target, RequestHandler):
            delegate: HTTPMessageDelegate = self.application.get_handler_delegate(request, target, **target_params)
            return delegate
        return super().get_target_delegate(target, request, **target_params)
