//! The Steward server: use-cases (`app`), the JSON API (`api`), the pages (`web`) and the CLI.

pub mod api;
pub mod app;
pub mod cli;
pub mod demo;
pub mod http;
pub mod i18n;
pub mod web;
