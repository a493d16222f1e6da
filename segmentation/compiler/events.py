# ruff: noqa: S608 -- SQL is assembled from checked, quoted identifiers; values are $n params
"""The one pass over events that answers every event condition of a query.

``ev`` groups the events by profile once and computes one filtered aggregate
per distinct event condition (``count(*) FILTER (WHERE ...)``); the scan is
limited to ``timestamp <= as_of`` and to the union of the conditions' filters,
led by plain column filters they all imply (every event type named, the
earliest window start) so the scan can apply them. With one distinct filter the
aggregates carry no FILTER (the WHERE is that filter). Two filters on different
event types with different windows are computed by two narrow scans full-joined
into ``ev`` (one scan would test an OR on every row of the wider window).

Sequence steps after the first also carry the latest window start of the steps
before them (a step's events come after the previous step's), so ``seq_ev``
skips older events of the later steps' types.

Sequences (chains) read ``seq_ev``, a second, narrow pass that flags each event
with the steps it can serve. A step's possible *reach times* (the time of its
n-th matching event after the previous step) are found step by step:

- step 1 reaches at every matching event from its n-th on;
- step i without a time limit starts after the earliest reach of step i-1 and
  reaches at every matching event from its n-th after that;
- step i ``within`` D of the previous step: for each matching event t the best
  previous reach is the earliest one in [t - D, t) (a range join with min), and t
  is a reach when at least n matching events lie in (previous reach, t].

A chain's result is read through a join of its distinct profile ids (``hits``),
not ``IN (subquery)``: Spark allows subqueries only in filters, and the job
query tests chains inside a list of CASEs.

Taking the earliest feasible previous reach is optimal (it leaves the most
events and the most time), so this finds a chain whenever one exists.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from segmentation.compiler.sqlparts import Params, sql_or
from segmentation.store import quote_ident

_RUNNING = "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"


@dataclass(frozen=True)
class Hint:
    """What a selector is known to imply, for a cheap prefilter on the union of several.

    ``types``: bound event types (``kind_sql IN (...)`` is implied), None for any type;
    ``floor``: an instant with ``floor_sql`` (``timestamp >= floor``) implied, or None.
    """

    kind_sql: str | None = None
    types: tuple[str, ...] | None = None
    floor: dt.datetime | None = None
    floor_sql: str | None = None


@dataclass
class EventPass:
    timestamp_sql: str  # quoted column
    as_of_sql: str  # bound parameter
    sample_sql: str | None = None  # the md5 bucket range of an estimate, or None
    table: str = "events"  # the sample table for estimates
    # (aggregate call, selector) -> ev column; equal conditions share one column
    aggregates: dict[tuple[str, str], str] = field(default_factory=dict)
    flags: dict[str, str] = field(default_factory=dict)  # step filter -> flag column
    hints: dict[str, Hint] = field(default_factory=dict)  # selector -> what it implies
    sequence_ctes: list[str] = field(default_factory=list)
    _sequences: dict[tuple, str] = field(default_factory=dict)
    hits: dict[str, str] = field(default_factory=dict)  # chain CTE -> alias of its joined ids
    profiles_table: str = "profiles"
    event_columns: frozenset[str] = frozenset()  # names a joined profile column must not take
    # profile attributes read inside event filters: SQL on the profiles table -> the
    # quoted name of that column in the pass; and the selectors that read any of them
    profile_columns: dict[str, str] = field(default_factory=dict)
    profile_selectors: set[str] = field(default_factory=set)

    def aggregate(self, measure: str, column_sql: str | None, selector: str) -> str:
        """The ``ev`` column holding ``measure`` over the events ``selector`` picks."""
        fn = {"count": "count", "sum": "sum", "average": "avg", "min": "min", "max": "max"}[measure]
        key = (f"{fn}({'*' if measure == 'count' else column_sql})", selector)
        if key not in self.aggregates:
            self.aggregates[key] = f"a{len(self.aggregates) + 1}"
        return self.aggregates[key]

    def profile_column(self, sql: str) -> str:
        """The quoted name under which the events pass reads the profile attribute ``sql``."""
        if sql not in self.profile_columns:
            self.profile_columns[sql] = quote_ident(self._free_name(len(self.profile_columns) + 1))
        return self.profile_columns[sql]

    def _free_name(self, n: int) -> str:
        name = f"_profile_{n}"
        while name in self.event_columns:
            name = "_" + name
        return name

    def _source(self, selectors: list[str]) -> str:
        """The events table, joined with the profile attributes that ``selectors`` read
        (only then: every other pass reads the events alone). An inner join: an event
        without a profile row counts for no profile of any universe."""
        table = quote_ident(self.table)
        if not self.profile_selectors.intersection(selectors):
            return table
        key = quote_ident(self._free_name(0))
        columns = ", ".join(f"{sql} AS {name}" for sql, name in self.profile_columns.items())
        return (
            f"{table} JOIN (SELECT profile_id AS {key}, {columns} FROM "
            f"{quote_ident(self.profiles_table)}) pp ON pp.{key} = {table}.profile_id"
        )

    @property
    def sequence_names(self) -> list[str]:
        """The CTEs listing the profiles that complete each registered chain."""
        return list(self._sequences.values())

    def hit(self, name: str) -> str:
        """SQL that is true for the profiles completing the chain ``name``."""
        alias = self.hits.setdefault(name, f"h{len(self.hits) + 1}")
        return f"({alias}.profile_id IS NOT NULL)"

    def hit_joins(self, profile_id_sql: str) -> str:
        """The LEFT JOINs of the chains' distinct ids that ``hit`` reads."""
        return "".join(
            f" LEFT JOIN (SELECT DISTINCT profile_id FROM {name}) {alias} "
            f"ON {alias}.profile_id = {profile_id_sql}"
            for name, alias in self.hits.items()
        )

    def sequence(self, steps: list[tuple[str, int, str | None]], params: Params) -> str:
        """Register a chain; returns the CTE listing the profiles that complete it."""
        key = tuple(steps)
        if key in self._sequences:
            return self._sequences[key]
        j = len(self._sequences) + 1
        previous = None
        for i, (selector, count, within) in enumerate(steps, start=1):
            flag = self.flags.setdefault(selector, f"f{len(self.flags) + 1}")
            name = f"sq{j}_{i}"
            n = params.bind(count, "BIGINT")
            if previous is None:
                self.sequence_ctes.append(_first_step(name, flag, count, n))
            elif within is None:
                self.sequence_ctes.append(_open_step(name, flag, count, n, previous))
            else:
                self.sequence_ctes.append(_timed_step(name, flag, count, n, previous, within))
            previous = name
        self._sequences[key] = previous
        return previous

    def ctes(self) -> list[str]:
        out = []
        base = [f"{self.timestamp_sql} <= {self.as_of_sql}"]
        if self.sample_sql:
            base.append(self.sample_sql)
        if self.aggregates:
            out.append(self._ev(base, list(dict.fromkeys(sel for _, sel in self.aggregates))))
        if self.flags:
            where = base + self._scan_filter(list(self.flags))
            columns = ", ".join(
                f"coalesce({sel}, FALSE) AS {flag}" for sel, flag in self.flags.items()
            )
            out.append(
                f"seq_ev AS MATERIALIZED (SELECT profile_id, {self.timestamp_sql} AS t, {columns} "
                f"FROM {self._source(list(self.flags))} WHERE {' AND '.join(where)})"
            )
            out += self.sequence_ctes
        return out

    def _pass(self, base: list[str], selectors: list[str], aggregates: dict) -> str:
        """One grouped scan computing ``aggregates`` over the events of ``selectors``."""
        single = len(selectors) == 1  # the scan's WHERE already picks exactly its events
        columns = ", ".join(
            f"{call if single or sel == 'TRUE' else _filtered(call, sel)} AS {col}"
            for (call, sel), col in aggregates.items()
        )
        where = base + self._scan_filter(selectors)
        return (
            f"SELECT profile_id, {columns} FROM {self._source(selectors)} "
            f"WHERE {' AND '.join(where)} GROUP BY profile_id"
        )

    def _ev(self, base: list[str], selectors: list[str]) -> str:
        """``ev``: one grouped pass, or several full-joined (same columns). The selectors
        reading profile attributes get a pass of their own, so that the join with the
        profiles is paid on their events only; two plain selectors far apart get two
        (see ``_apart``)."""
        joined = [sel for sel in selectors if sel in self.profile_selectors]
        plain = [sel for sel in selectors if sel not in self.profile_selectors]
        groups = [[sel] for sel in plain] if self._apart(plain) else [plain] if plain else []
        groups += [joined] if joined else []
        if len(groups) == 1:
            return f"ev AS ({self._pass(base, selectors, self.aggregates)})"
        passes = []
        for i, group in enumerate(groups, start=1):
            mine = {key: col for key, col in self.aggregates.items() if key[1] in group}
            passes.append((f"ev{i}", list(mine.values()), self._pass(base, group, mine)))
        return _full_join(passes)

    def _apart(self, selectors: list[str]) -> bool:
        """Two selectors on different event types and different time windows: two
        narrow scans, each with plain column filters, beat one scan testing an OR of
        both on every row the loose common prefilter lets through. (With the same
        window the prefilter is tight and one scan wins.)"""
        if len(selectors) != 2:
            return False
        a, b = (self.hints.get(sel, Hint()) for sel in selectors)
        if not (a.types and b.types and a.kind_sql == b.kind_sql) or a.floor == b.floor:
            return False
        return not set(a.types) & set(b.types)

    def _scan_filter(self, selectors: list[str]) -> list[str]:
        """The union of the selectors, led by the plain conjuncts they all imply.

        ``eventType IN (all types) AND timestamp >= earliest floor`` are simple column
        filters the scan applies before the OR of the selectors (a no-op for one).
        """
        union = sql_or(selectors)
        if union == "TRUE":
            return []
        if len(selectors) == 1:
            return [union]
        hints = [self.hints.get(sel, Hint()) for sel in selectors]
        out = []
        kinds = {h.kind_sql for h in hints}
        if all(h.types for h in hints) and len(kinds) == 1:
            listed = ", ".join(dict.fromkeys(t for h in hints for t in h.types or ()))
            out.append(f"({kinds.pop()} IN ({listed}))")
        if all(h.floor is not None for h in hints):
            out.append(min(hints, key=lambda h: h.floor).floor_sql)
        return [*out, union]


def _full_join(passes: list[tuple[str, list[str], str]]) -> str:
    """``ev`` as the full join of passes (name, columns, query) on ``profile_id``."""
    ids = [f"{name}.profile_id" for name, _, _ in passes]
    joined = passes[0][0]
    for i, (name, _, _) in enumerate(passes[1:], start=1):
        seen = ids[0] if i == 1 else f"coalesce({', '.join(ids[:i])})"
        joined += f" FULL JOIN {name} ON {name}.profile_id = {seen}"
    columns = ", ".join(f"{name}.{c}" for name, cols, _ in passes for c in cols)
    ctes = ", ".join(f"{name} AS ({query})" for name, _, query in passes)
    return (
        f"{ctes}, ev AS (SELECT coalesce({', '.join(ids)}) AS profile_id, {columns} FROM {joined})"
    )


def _counted(source: str, flag: str) -> str:
    return (
        f"SELECT profile_id, t, count(*) OVER (PARTITION BY profile_id ORDER BY t {_RUNNING}) "
        f"AS k FROM {source} WHERE {flag}"
    )


def _first_step(name: str, flag: str, count: int, n: str) -> str:
    if count == 1:
        return f"{name} AS (SELECT profile_id, t FROM seq_ev WHERE {flag})"
    return f"{name} AS (SELECT profile_id, t FROM ({_counted('seq_ev', flag)}) WHERE k >= {n})"


def _open_step(name: str, flag: str, count: int, n: str, previous: str) -> str:
    after = (
        f"(SELECT e.* FROM seq_ev e JOIN (SELECT profile_id, min(t) AS r FROM {previous} "
        f"GROUP BY profile_id) m ON e.profile_id = m.profile_id WHERE e.t > m.r)"
    )
    if count == 1:
        return f"{name} AS (SELECT profile_id, t FROM {after} WHERE {flag})"
    return f"{name} AS (SELECT profile_id, t FROM ({_counted(after, flag)}) WHERE k >= {n})"


def _reached(previous: str) -> str:
    """Events of profiles that reached the previous step: the rest cannot continue."""
    return f"(SELECT * FROM seq_ev WHERE profile_id IN (SELECT profile_id FROM {previous}))"


def _timed_step(name: str, flag: str, count: int, n: str, previous: str, within: str) -> str:
    """Step events with a previous reach in [t - within, t): a range join, portable (no
    ASOF JOIN) and, on DuckDB, faster than the ASOF form it replaced."""
    near = f"e.profile_id = f.profile_id AND f.t >= e.t - {within} AND f.t < e.t"
    if count == 1:  # the event itself is the one match in (previous reach, t]: no counting
        return (
            f"{name} AS (SELECT e.profile_id, e.t FROM (SELECT profile_id, t FROM seq_ev "
            f"WHERE {flag}) e SEMI JOIN {previous} f ON {near})"
        )
    # r: the earliest previous reach in the window; the events counted up to r are the
    # largest running count k at or before r (k grows with t)
    return (
        f"{name}_e AS ({_counted(_reached(previous), flag)}), "
        f"{name}_r AS (SELECT e.profile_id, e.t, e.k, min(f.t) AS r FROM {name}_e e "
        f"JOIN {previous} f ON {near} GROUP BY e.profile_id, e.t, e.k), "
        f"{name} AS (SELECT c.profile_id, c.t FROM {name}_r c LEFT JOIN {name}_e b "
        f"ON b.profile_id = c.profile_id AND b.t <= c.r GROUP BY c.profile_id, c.t, c.k "
        f"HAVING c.k - coalesce(max(b.k), 0) >= {n})"
    )


def _filtered(call: str, selector: str) -> str:
    """``fn(x)`` over the rows ``selector`` picks, as a conditional aggregate.

    Same results as ``fn(x) FILTER (WHERE selector)`` (0 for counts, NULL for the
    others when no row matches), but DuckDB runs it about a quarter faster when many
    aggregates share one grouped scan.
    """
    fn, arg = call[: call.index("(")], call[call.index("(") + 1 : -1]
    if fn == "count":
        return f"count_if({selector})"
    return f"{fn}(CASE WHEN {selector} THEN {arg} END)"
