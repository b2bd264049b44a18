"""squall: Tornado's API on a Rust core (HTTP/1.1, WebSockets with topics,
an async HTTP client), loaded through ctypes.

Modules mirror Tornado's: ``squall.web``, ``squall.websocket``,
``squall.ioloop``, ``squall.httpserver``, ``squall.httpclient``,
``squall.options``, ``squall.process``, ``squall.escape``,
``squall.httputil``, ``squall.log``. Importing ``squall`` itself does not
load the native library; its first submodule that needs it does.
"""
version = "0.1.0"
version_info = (0, 1, 0, 0)
