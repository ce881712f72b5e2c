//! Knowledge articles, their versions, categories and ratings.
