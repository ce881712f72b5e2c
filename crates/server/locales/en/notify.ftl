## Notifications out: email templates and each user's choices.
admin-mail-templates = Email templates
admin-outbox = Outbox
