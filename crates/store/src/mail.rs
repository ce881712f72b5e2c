//! Mailboxes and received messages.
