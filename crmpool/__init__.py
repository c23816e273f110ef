"""crmpool: a sales team's customers in one SQLite file, with the public-pool (公海) rules."""

__version__ = "0.1.0"
