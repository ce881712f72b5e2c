## Webhooks and chat bots.
admin-webhooks = Webhooks
admin-bots = Chat bots

## Chat bot messages.
bot-ticket-created = New ticket
bot-ticket-replied = New public reply
bot-ticket-status-changed = Status changed
bot-ticket-resolved = Resolved
bot-ticket-assigned = Assigned
bot-approval-requested = Approval requested
bot-sla-warning = SLA target close
bot-sla-breached = SLA target breached
bot-status-change = { $from } → { $to }
bot-sla-metric = Target: { $metric }
bot-by = By { $name }
bot-open-ticket = Open the ticket
bot-ping-title = Steward test message
bot-ping = This robot is connected to Steward.
