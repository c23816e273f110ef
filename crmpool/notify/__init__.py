"""Notifications (通知): the outbox the sweep fills in its transaction, the words of a
message, and the senders `crmpool notify` uses after it (e-mail, robot webhooks, commands)
through the channels of the rules file (crmpool/channels.py). Nothing here holds a database
transaction open on the network.
"""
