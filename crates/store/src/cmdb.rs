//! Configuration management: CI types, CIs and their relationships.
