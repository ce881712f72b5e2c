//! Knowledge: articles in Chinese and English, their versions, review and publishing, search, ratings and portal suggestions.
