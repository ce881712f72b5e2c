//! IMAP settings of polled mailboxes: which to poll, and what the last poll found.
