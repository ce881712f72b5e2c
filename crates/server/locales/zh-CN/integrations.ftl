## Webhook 与群机器人。
admin-webhooks = Webhook
admin-bots = 群机器人
