//! Releases: the changes they group, the acceptance checklist, go-live approval and deployment.
