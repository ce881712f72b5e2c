//! The API integration suite. Every scenario runs twice: on SQLite and on PostgreSQL.

mod common;

mod accounts;
mod audit;
mod catalogue;
mod imap;
mod input;
mod mail;
mod operations;
mod outbound;
mod pages;
mod permissions;
mod reports;
mod search;
mod service_levels;
mod tickets;
mod webhooks;
