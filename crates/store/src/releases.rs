//! Releases: the changes they group, acceptance checklists, go-live and deployment.
