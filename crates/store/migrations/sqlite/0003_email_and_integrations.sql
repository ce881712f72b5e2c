-- Email in and out, outbound notifications, webhooks and chat bots.

-- Inbound addresses. The IMAP columns are set for a polled mailbox; a mailbox fed by
-- `steward mailgate` (an MTA pipe) leaves them NULL. imap_password is a credential Steward must
-- present, so it is stored, never shown back.
CREATE TABLE mailboxes (
    id INTEGER PRIMARY KEY,
    address TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    team_id BIGINT REFERENCES teams(id),
    service_id BIGINT REFERENCES services(id),
    create_requesters BIGINT NOT NULL,
    -- What happens to mail from an unknown sender when create_requesters is off:
    -- 'reject' (a reply saying so) or 'quarantine'.
    unknown_sender TEXT NOT NULL,
    imap_host TEXT,
    imap_port BIGINT,
    imap_security TEXT,
    imap_username TEXT,
    imap_password TEXT,
    imap_folder TEXT,
    -- After a message is stored: 'move' to imap_done_folder, or 'flag' it \Seen + \Flagged.
    imap_after TEXT,
    imap_done_folder TEXT,
    imap_last_polled_at BIGINT,
    imap_last_error TEXT,
    active BIGINT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Every received message, stored raw (blob_key) before it is processed. message_id is the
-- normalised Message-ID (or a digest of the raw bytes when there is none); it is unique so the
-- same message is taken once whichever route or node delivers it.
CREATE TABLE inbound_messages (
    id INTEGER PRIMARY KEY,
    mailbox_id BIGINT REFERENCES mailboxes(id),
    message_id TEXT NOT NULL UNIQUE,
    blob_key TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    source TEXT NOT NULL,
    from_address TEXT,
    subject TEXT,
    -- received, processed, quarantined, ignored
    status TEXT NOT NULL,
    -- ticket_created, comment_added, bounce, auto_reply, rejected, ...
    outcome TEXT,
    reason TEXT,
    ticket_id BIGINT REFERENCES tickets(id),
    comment_id BIGINT REFERENCES comments(id),
    attempts BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    processed_at BIGINT
);
CREATE INDEX inbound_messages_status ON inbound_messages(status, id);
CREATE INDEX inbound_messages_ticket ON inbound_messages(ticket_id, id);
CREATE INDEX inbound_messages_sender ON inbound_messages(from_address, received_at);

-- Mail Steward sends. message_id is unique so a reply's In-Reply-To / References find the
-- ticket; thread_refs is the References header it was sent with.
CREATE TABLE outbound_mail (
    id INTEGER PRIMARY KEY,
    ticket_id BIGINT REFERENCES tickets(id),
    recipient_id BIGINT REFERENCES users(id),
    to_address TEXT NOT NULL,
    event TEXT NOT NULL,
    locale TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT,
    message_id TEXT NOT NULL UNIQUE,
    in_reply_to TEXT,
    thread_refs TEXT,
    -- queued, sent, failed
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX outbound_mail_ticket ON outbound_mail(ticket_id, id);
CREATE INDEX outbound_mail_status ON outbound_mail(status, id);

-- Which events reach a user by email; a missing row means the event's default.
CREATE TABLE notification_preferences (
    user_id BIGINT NOT NULL REFERENCES users(id),
    event TEXT NOT NULL,
    email BIGINT NOT NULL,
    PRIMARY KEY (user_id, event)
);

-- An admin's wording for one event in one language, replacing the built-in template.
CREATE TABLE mail_templates (
    event TEXT NOT NULL,
    locale TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (event, locale)
);

-- Webhook subscriptions. secret signs the payload (HMAC-SHA256), so it is stored, never shown
-- back. events is a JSON array of event types.
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events TEXT NOT NULL,
    allow_private BIGINT NOT NULL,
    active BIGINT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Group robots of WeCom, DingTalk and Feishu; team_id NULL means every team.
CREATE TABLE chat_bots (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    platform TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT,
    team_id BIGINT REFERENCES teams(id),
    events TEXT NOT NULL,
    -- The language of the messages: zh-CN or en.
    locale TEXT NOT NULL,
    allow_private BIGINT NOT NULL,
    active BIGINT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Each attempt to hand an event to a webhook or a bot, with the answer.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    -- webhook or bot
    target_kind TEXT NOT NULL,
    target_id BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    -- pending, delivered, failed
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    response_status BIGINT,
    response_body TEXT,
    error TEXT,
    created_at BIGINT NOT NULL,
    last_attempt_at BIGINT,
    delivered_at BIGINT,
    UNIQUE (target_kind, target_id, event_id)
);
CREATE INDEX deliveries_target ON deliveries(target_kind, target_id, id);

-- Every attempt of a delivery, with the answer or the error, for the delivery log.
CREATE TABLE delivery_attempts (
    id INTEGER PRIMARY KEY,
    delivery_id BIGINT NOT NULL REFERENCES deliveries(id),
    attempt BIGINT NOT NULL,
    at BIGINT NOT NULL,
    response_status BIGINT,
    response_body TEXT,
    error TEXT
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts(delivery_id, id);
