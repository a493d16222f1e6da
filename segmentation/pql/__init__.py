"""PQL text <-> expression tree.

``parse(text) -> Expression`` reads the subset of Adobe's Profile Query
Language listed below; ``to_pql(expr) -> str`` writes one canonical text for a
tree. ``to_pql(parse(text))`` is a fixed point and ``parse(to_pql(tree)) == tree``
for every canonical tree. ``parse`` raises only ``PQLSyntaxError`` and
``UnsupportedError`` (valid AEP PQL that is not evaluated here, e.g.
``regexGroup``, ``topN``, map ``.get``, ``^`` up-references, ``if(...)``,
``.filter``, ``.map``), both with the 1-based line and column; ``to_pql`` raises
``InvalidInputError`` for a tree that has no PQL spelling. AEP's JSON tree form
(``pql/json``) is :mod:`segmentation.pql.json_format`.

Supported: ``= != > >= < <=``; ``and`` (binds tighter) / ``or``; ``not (..)``,
``!(..)``; ``+ - * / %``; ``in`` / ``notIn``; ``like``, ``matches``,
``contains`` (and doesNotContain, startsWith, doesNotStartWith, endsWith,
doesNotEndWith, equals, notEqualTo, with an optional case flag); ``isNull()``,
``isNotNull()``; ``intersects``, ``includes``, ``subsetOf``, ``supersetOf``;
``occurs`` windows; ``date(y, m, d[, h, mi, s])``; ``now today yesterday
tomorrow``; ``currentMonth()``-style and ``ts.getMonth()``-style functions;
``xEvent[...].count() / .sum(f) / .average(f) / .min(f) / .max(f) <op> n``,
``select / exists / forall X from xEvent where ..``, ``xEvent.<path> <op> v``
(some event meets it), ``let S = (sum X.f over X
from xEvent where ..) in (<any condition on S>)``; ``chain(xEvent, timestamp, [A: WHAT(..)
WHEN(..) COUNT(n) WHERE(..), ...])``; ``inSegment("id or name")``. Field
names are dotted paths; backticks quote odd names (`` `first name` ``, a
doubled backtick inside stands for one); ``$1.`` and a lambda header
``(Profile) => Profile.x`` are stripped. Inside an event filter bare names are
fields of the event and ``$1.x`` names a profile attribute.

Semantics (what every evaluator of these trees must do):

* Two-valued logic. A condition on a missing (null) value is false, and
  ``not`` of it is true; there is no "unknown". ``x notIn [..]`` is false when
  x is null (AEP's rule), so it is not the same as ``not (x in [..])``.
* ``now`` is the evaluation's ``as_of`` time; ``today``, ``yesterday`` and
  ``tomorrow`` are the starts of those calendar days in the workspace timezone.
* ``ts occurs <= N days before now`` means ts in [as_of - N days, as_of];
  ``> N days before X`` means ts < X - N days; ``after`` and ``from`` mirror
  ``before``. Units of a day or more move the local calendar (months and
  years are calendar months and years); smaller units are exact durations.
* A time point is an instant (``now``, a timestamp) or a period (``today``,
  ``last month``, a date). ``occurs before T`` is ts < start(T); ``occurs
  after T`` is ts >= end(T) for a period (ts > T for an instant); ``occurs on
  T`` / ``occurs T`` is start(T) <= ts < end(T).
* Calendar periods (``this month``, ``last week``, ``next year``, ``today``) are
  taken in the workspace timezone; weeks start on Monday.
* ``occurs between A and B`` is inclusive: with dates, from the start of day A
  to the end of day B.
* ``xEvent[...]`` selects the profile's events; ``count()`` of none is 0 and
  ``sum`` of none is 0, while ``average``, ``min`` and ``max`` of none are
  missing, so those comparisons are false. "Did not perform" is ``count() = 0``.
* ``chain`` steps happen in strict time order (each step's event is later than
  the previous step's); ``COUNT(n)`` means at least n matching events for that
  step; ``WHEN(<= N units after A)`` bounds the gap to the previous step.
* ``inSegment("x")`` is membership in another saved definition, evaluated at
  the same ``as_of``; cycles are refused.
"""

from segmentation.pql.formatter import to_pql
from segmentation.pql.parser import parse

__all__ = ["parse", "to_pql"]
