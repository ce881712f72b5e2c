//! The API integration suite. Every scenario runs twice: on SQLite and on PostgreSQL.

mod accounts;
mod audit;
mod catalogue;
mod changes;
mod cmdb;
mod common;
mod imap;
mod input;
mod knowledge;
mod links;
mod mail;
mod operations;
mod outbound;
mod pages;
mod permissions;
mod problems;
mod releases;
mod reports;
mod search;
mod service_levels;
mod tickets;
mod webhooks;
