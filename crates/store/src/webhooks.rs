//! Webhooks, chat bots and their deliveries.
