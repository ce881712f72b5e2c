//! Configuration management: CI types, CIs, relationships, impact analysis, CSV import and export.
