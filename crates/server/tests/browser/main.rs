//! The pages in a real browser: headless Chromium driven over WebDriver (Debian packages
//! `chromium` and `chromium-driver`). A requester reports a problem in Chinese from the portal,
//! an agent finds it by searching 打印机, replies, writes an internal note and resolves it, and
//! the requester sees the reply but not the note. A second scenario takes a catalogue request
//! with a custom form through its approval to fulfilment, with its SLA clocks on the ticket.
//! Screenshots go to target/screenshots/.
//!
//! The test fails, never skips, when chromedriver or Chromium is missing.

mod catalogue;
mod desk;
mod problem_change;
mod support;
