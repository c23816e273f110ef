"""The commands of `crmpool`, one module per group (setup, customers, trail, rules, imports,
sweep). Each registers its commands on the app of crmpool/cli.py and imports the domain only
inside a command; crmpool.cli.load_commands imports just the group that runs."""
