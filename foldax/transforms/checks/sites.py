"""The sites of one ``foldax.checkify`` call, and checked bodies reused across calls.

A site (one place that can fail) gets a code unique in the process, as JAX's checkify numbers its
errors (``next_code``): a checked body has the codes of its sites baked in, so the same body
checked the same way (``core.body_cache``) serves every later call, and JAX's caches keyed on the
body (``jit``'s compilation, the eager primitive cache) hit. The cached body remembers the sites it
registered; a call that reuses it registers them again (``replay``), so its error reports them
with the same messages and source lines, as JAX's cached checked jaxpr brings its error metadata
(its output tree) along.

Example:
    >>> from foldax.transforms.checks.error import Site
    >>> class Body:  # a checked body, as the interpreter core traces it
    ...     consts = []
    >>> source = type("Source", (), {})()  # what the body is traced from (held weakly)
    >>> def checked_body(table):
    ...     def build():  # tracing the body registers its one site
    ...         table.code(("log",), lambda: Site("nan", "log", -1, (), "f.py:3 (f)"), None)
    ...         return Body()
    ...     return table.reuse(source, ("checked",), build, None)
    >>> first, second = SiteTable(), SiteTable()
    >>> checked_body(first) is checked_body(second), first.sites == second.sites != {}
    (True, True)
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from typing import Any, Callable, Hashable, Iterator

from foldax.transforms.checks.error import RuleScope, Site
from foldax.transforms.core.body_cache import cached_body

_next_code = itertools.count().__next__  # codes unique in the process (JAX's next_code)


@dataclasses.dataclass(frozen=True, eq=False)
class Registration:
    """A site a checked body relies on: its dedup ``key``, ``code`` and ``site``; ``owner``
    (the equation it checks) is kept alive while the key, which holds its id, is in use."""

    key: Hashable
    code: int
    site: Site
    owner: Any


class CheckedBody:
    """A body traced by the checkify interpreter (the core's ``Traced``) with the sites it
    registered and the custom-derivative scope it was traced in."""

    def __init__(self, traced: Any, registrations: tuple, scope: RuleScope | None) -> None:
        self.traced, self.registrations, self.scope = traced, registrations, scope

    @property
    def consts(self) -> list:
        return self.traced.consts


class SiteTable:
    """The sites (by code) of one checkified call, shared by its interpreter and all children."""

    def __init__(self) -> None:
        self.sites: dict[int, Site] = {}
        self.codes: dict = {}  # dedup key -> code
        self.keep: list = []  # keeps the keyed equations alive (keys use their ids)
        self._recording: list[dict] = []  # the registrations of the bodies being traced

    def code(self, key: Hashable, make: Callable[[], Site], owner: Any) -> int:
        """The code of the site ``key`` names, registered (``make()``) on first use."""
        code = self.codes.get(key)
        if code is None:
            code = _next_code()
            self._adopt(Registration(key, code, make(), owner))
        else:
            self._note(Registration(key, code, self.sites[code], owner))
        return code

    def reuse(
        self, source: Any, key: Hashable | None, build: Callable[[], Any], scope: RuleScope | None
    ) -> Any:
        """``build()`` (a checked body of ``source``), or the body built before for the same
        ``source`` and ``key`` (``core.body_cache``), whose sites are then registered here.

        Arguments:
            source: the jaxpr the body is traced from.
            key: everything else the body depends on (``None``: not cached).
            build: traces the body, registering its sites in this table.
            scope: the custom-derivative body being checked (the sites' scope).

        Returns:
            What ``build()`` returned, now or for an earlier call.
        """

        def recorded() -> CheckedBody:
            with self._record() as registrations:
                traced = build()
            return CheckedBody(traced, tuple(registrations.values()), scope)

        checked = cached_body(source, key, recorded)
        self.replay(checked, scope)
        return checked.traced

    def replay(self, checked: CheckedBody, scope: RuleScope | None) -> None:
        """Register the sites ``checked`` relies on (a site of the scope it was traced in now
        belongs to ``scope``, the one it is used in)."""
        for r in checked.registrations:
            if r.site.scope is checked.scope and scope is not checked.scope:
                r = dataclasses.replace(r, site=dataclasses.replace(r.site, scope=scope))
            self._adopt(r)

    @contextlib.contextmanager
    def _record(self) -> Iterator[dict]:
        registrations: dict = {}
        self._recording.append(registrations)
        try:
            yield registrations
        finally:
            self._recording.pop()

    def _adopt(self, r: Registration) -> None:
        self.codes.setdefault(r.key, r.code)
        if r.code not in self.sites:
            self.sites[r.code] = r.site
            self.keep.append(r.owner)
        self._note(r)

    def _note(self, r: Registration) -> None:
        for registrations in self._recording:
            registrations.setdefault(r.code, r)
