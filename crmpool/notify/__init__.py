"""Notifications (通知): channels named in the rules file, the outbox the sweep fills in its
transaction, and the senders `crmpool notify` uses after it (e-mail, robot webhooks,
commands). Nothing here holds a database transaction open on the network.
"""
