"""The sweep (定时回收) and what it leaves behind.

`run` applies the rules once, in one transaction (freezes lifted, reclaims, the runs row);
`warnings` records and lists the warnings it opens and closes; `why` explains one customer
with the same SQL; `undo` puts back exactly what one run did. They use rules, ruleset,
policy, store and audit below them, never the commands above.
"""

from crmpool.sweep.run import (
    RUN_COLUMNS,
    SWEEP_ACTOR,
    SweepReport,
    count_runs,
    list_runs,
    sweep,
)
from crmpool.sweep.warnings import open_warnings

__all__ = ["RUN_COLUMNS", "SWEEP_ACTOR", "SweepReport", "count_runs", "list_runs",
           "open_warnings", "sweep"]
