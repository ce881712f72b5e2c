//! The API integration suite. Every scenario runs twice: on SQLite and on PostgreSQL.

mod common;

mod accounts;
mod audit;
mod catalogue;
mod input;
mod operations;
mod pages;
mod permissions;
mod reports;
mod search;
mod service_levels;
mod tickets;
