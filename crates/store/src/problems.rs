//! Problems and the known error database.
