# ruff: noqa: S608 -- SQL is assembled from checked, quoted identifiers; values are $n params
"""The one pass over events that answers every event condition of a query.

``ev`` groups the events by profile once and computes one filtered aggregate
per distinct event condition (``count(*) FILTER (WHERE ...)``); the scan is
limited to ``timestamp <= as_of`` and to the union of the conditions' filters.

Sequences (chains) read ``seq_ev``, a second, narrow pass that flags each event
with the steps it can serve. A step's possible *reach times* (the time of its
n-th matching event after the previous step) are found step by step:

- step 1 reaches at every matching event from its n-th on;
- step i without a time limit starts after the earliest reach of step i-1 and
  reaches at every matching event from its n-th after that;
- step i ``within`` D of the previous step: for each matching event t the best
  previous reach is the earliest one in [t - D, t) (an ASOF join), and t is a
  reach when at least n matching events lie in (previous reach, t].

Taking the earliest feasible previous reach is optimal (it leaves the most
events and the most time), so this finds a chain whenever one exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from segmentation.compiler.sqlparts import Params, sql_or
from segmentation.store import quote_ident

_RUNNING = "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"


@dataclass
class EventPass:
    timestamp_sql: str  # quoted column
    as_of_sql: str  # bound parameter
    sample_sql: str | None = None  # "hash(profile_id) % .. < .." or None
    table: str = "events"  # the sample table for estimates
    aggregates: dict[str, str] = field(default_factory=dict)  # aggregate SQL -> column
    selectors: list[str] = field(default_factory=list)
    flags: dict[str, str] = field(default_factory=dict)  # step filter -> flag column
    sequence_ctes: list[str] = field(default_factory=list)
    _sequences: dict[tuple, str] = field(default_factory=dict)

    def aggregate(self, measure: str, column_sql: str | None, selector: str) -> str:
        """The ``ev`` column holding ``measure`` over the events ``selector`` picks."""
        fn = {"count": "count", "sum": "sum", "average": "avg", "min": "min", "max": "max"}[measure]
        arg = "*" if measure == "count" else column_sql
        agg = f"{fn}({arg})" + ("" if selector == "TRUE" else f" FILTER (WHERE {selector})")
        if agg not in self.aggregates:
            self.aggregates[agg] = f"a{len(self.aggregates) + 1}"
            self.selectors.append(selector)
        return self.aggregates[agg]

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
                self.sequence_ctes.append(_timed_step(name, flag, n, previous, within))
            previous = name
        self._sequences[key] = previous
        return previous

    def ctes(self) -> list[str]:
        out = []
        base = [f"{self.timestamp_sql} <= {self.as_of_sql}"]
        if self.sample_sql:
            base.append(self.sample_sql)
        if self.aggregates:
            where = list(base)
            union = sql_or(self.selectors)
            if union != "TRUE":
                where.append(union)
            columns = ", ".join(f"{agg} AS {col}" for agg, col in self.aggregates.items())
            out.append(
                f"ev AS (SELECT profile_id, {columns} FROM {quote_ident(self.table)} "
                f"WHERE {' AND '.join(where)} GROUP BY profile_id)"
            )
        if self.flags:
            where = list(base)
            union = sql_or(list(self.flags))
            if union != "TRUE":
                where.append(union)
            columns = ", ".join(
                f"coalesce({sel}, FALSE) AS {flag}" for sel, flag in self.flags.items()
            )
            out.append(
                f"seq_ev AS MATERIALIZED (SELECT profile_id, {self.timestamp_sql} AS t, {columns} "
                f"FROM {quote_ident(self.table)} WHERE {' AND '.join(where)})"
            )
            out += self.sequence_ctes
        return out


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


def _timed_step(name: str, flag: str, n: str, previous: str, within: str) -> str:
    return (
        f"{name}_e AS ({_counted(_reached(previous), flag)}), "
        f"{name} AS (SELECT c.profile_id, c.t FROM ("
        f"SELECT e.profile_id, e.t, e.k, f.t AS r FROM {name}_e e ASOF JOIN {previous} f "
        f"ON e.profile_id = f.profile_id AND f.t >= e.t - {within}) c "
        f"ASOF LEFT JOIN {name}_e b ON c.profile_id = b.profile_id AND b.t <= c.r "
        f"WHERE c.r < c.t AND c.k - coalesce(b.k, 0) >= {n})"
    )
