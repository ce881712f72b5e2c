## Email in: mailboxes, the quarantine, messages on tickets.
admin-mailboxes = Mailboxes
admin-quarantine = Quarantine
