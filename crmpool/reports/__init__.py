"""Reports a sales manager reads (统计): owners, pool flow, ageing, lost customers,
conversion, sales — each computed in SQL over customers, events, contacts and deals as of one
moment, and returned as plain rows (`base.Figures`) that every output format, the terminal
charts (`charts`) and the HTML page (`page`) show alike.

One module per report; `period` says what a period and its buckets are. Free of Typer and
Rich; it may import the domain modules below it (users, when), never the CLI.
"""
