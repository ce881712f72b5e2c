-- Knowledge: categories (a tree), articles, their versions (bilingual content, review status),
-- ratings, and the search index (live = the published version, draft = the newest version).
INSERT INTO counters (name, value) VALUES ('KB', 0);
CREATE TABLE knowledge_categories (
    id INTEGER PRIMARY KEY,
    parent_id BIGINT REFERENCES knowledge_categories(id),
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE knowledge_articles (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    -- The title of the newest version, in Chinese when it has one.
    title TEXT NOT NULL,
    -- published while a version is live, otherwise the newest version's status.
    status TEXT NOT NULL,
    audience TEXT NOT NULL,
    category_id BIGINT REFERENCES knowledge_categories(id),
    created_by BIGINT NOT NULL REFERENCES users(id),
    latest_version BIGINT NOT NULL,
    published_version BIGINT,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX knowledge_articles_status ON knowledge_articles (status, id);
CREATE TABLE knowledge_versions (
    id INTEGER PRIMARY KEY,
    article_id BIGINT NOT NULL REFERENCES knowledge_articles(id),
    number BIGINT NOT NULL,
    title_zh TEXT NOT NULL,
    body_zh TEXT NOT NULL,
    title_en TEXT NOT NULL,
    body_en TEXT NOT NULL,
    status TEXT NOT NULL,
    author_id BIGINT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    reviewed_by BIGINT REFERENCES users(id),
    reviewed_at BIGINT,
    review_comment TEXT NOT NULL DEFAULT '',
    UNIQUE (article_id, number)
);
CREATE TABLE knowledge_ratings (
    article_id BIGINT NOT NULL REFERENCES knowledge_articles(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    helpful BIGINT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    rated_at BIGINT NOT NULL,
    PRIMARY KEY (article_id, user_id)
);
CREATE VIRTUAL TABLE knowledge_search USING fts5(live, draft, tokenize = 'unicode61');
