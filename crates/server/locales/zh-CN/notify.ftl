## 外发通知：邮件模板与每个用户的选择。
admin-mail-templates = 邮件模板
admin-outbox = 发件箱
