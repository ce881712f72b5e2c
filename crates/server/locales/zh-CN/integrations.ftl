## Webhook 与群机器人。
admin-webhooks = Webhook
admin-bots = 群机器人

## 群机器人消息。
bot-ticket-created = 新工单
bot-ticket-replied = 新的公开回复
bot-ticket-status-changed = 状态已变更
bot-ticket-resolved = 已解决
bot-ticket-assigned = 已指派
bot-approval-requested = 等待审批
bot-sla-warning = SLA 即将到期
bot-sla-breached = SLA 已违约
bot-status-change = { $from } → { $to }
bot-sla-metric = 指标：{ $metric }
bot-by = 操作人：{ $name }
bot-open-ticket = 查看工单
bot-ping-title = Steward 测试消息
bot-ping = 此机器人已与 Steward 连接。
