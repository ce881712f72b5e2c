//! Sent mail, notification preferences and email templates.
