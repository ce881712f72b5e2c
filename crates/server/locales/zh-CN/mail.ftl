## 邮件接收：邮箱、隔离区、工单上的邮件。
admin-mailboxes = 收件邮箱
admin-quarantine = 隔离区
