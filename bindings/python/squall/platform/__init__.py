"""``squall.platform``: ``squall.platform.asyncio`` (as Tornado's)."""
