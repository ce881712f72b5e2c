//! Requests for change, CAB votes, standard change templates and freeze periods.
