"""Automatic distribution (自动分配): handing a pool's waiting customers to its members by a
strategy — round-robin, least-loaded, territory or performance.

`receivers` works out who may take how many (active, a member, under cap and the daily limit,
not a previous owner inside the cooldown); `strategies` decides, on plain data, who gets each
customer and why the rest stay; `run` reads the pool, applies the plan set-based in the
caller's transaction and records the run. It may import the domain modules below it (policy,
pool_access, distribute_rules), never the CLI.
"""
