## Webhooks and chat bots.
admin-webhooks = Webhooks
admin-bots = Chat bots
