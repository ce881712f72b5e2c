//! The API integration suite. Every scenario runs twice: on SQLite and on PostgreSQL.

mod common;

mod accounts;
mod audit;
mod input;
mod operations;
mod permissions;
mod search;
mod tickets;
