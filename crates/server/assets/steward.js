// Steward's own small enhancements; the pages work without it.
