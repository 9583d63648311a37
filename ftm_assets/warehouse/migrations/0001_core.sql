-- FTM core schema. {embedding_dim} is filled in from the embedding model when the database is created.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE ftm_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- One row per firm and quarter with a stored call. Replaced as a whole (with its topics and
-- sentences, by cascade) when the firm is re-materialized.
CREATE TABLE firms (
    firm_id            text NOT NULL,
    quarter            text NOT NULL CHECK (quarter ~ '^[0-9]{4}Q[1-4]$'),
    firm_name          text,
    call_date          date,
    n_sentences        integer NOT NULL,
    n_topics           integer NOT NULL,
    outlier_share      real NOT NULL,
    topic_outcome      text NOT NULL,
    summary_source     text NOT NULL,
    prompt_tokens      integer NOT NULL DEFAULT 0,
    completion_tokens  integer NOT NULL DEFAULT 0,
    llm_calls          integer NOT NULL DEFAULT 0,
    input_fingerprint  text NOT NULL,
    processed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (firm_id, quarter)
);

CREATE TABLE topics (
    topic_id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    firm_id            text NOT NULL,
    quarter            text NOT NULL,
    local_topic_id     integer NOT NULL,
    label              text NOT NULL,
    keywords           text[] NOT NULL,
    size               integer NOT NULL,
    representative_sentence_indexes integer[] NOT NULL,
    summary            text NOT NULL,
    summary_source     text NOT NULL CHECK (summary_source IN ('llm', 'extractive')),
    fallback_reason    text,
    prompt_tokens      integer NOT NULL DEFAULT 0,
    completion_tokens  integer NOT NULL DEFAULT 0,
    embedding          vector({embedding_dim}) NOT NULL,
    UNIQUE (firm_id, quarter, local_topic_id),
    FOREIGN KEY (firm_id, quarter) REFERENCES firms (firm_id, quarter) ON DELETE CASCADE
);
CREATE INDEX topics_quarter_idx ON topics (quarter);

CREATE TABLE sentences (
    sentence_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    firm_id            text NOT NULL,
    quarter            text NOT NULL,
    sentence_index     integer NOT NULL,
    text               text NOT NULL,
    section            text,
    speaker            text,
    topic_id           bigint REFERENCES topics (topic_id) ON DELETE SET NULL,
    embedding          vector({embedding_dim}) NOT NULL,
    UNIQUE (firm_id, quarter, sentence_index),
    FOREIGN KEY (firm_id, quarter) REFERENCES firms (firm_id, quarter) ON DELETE CASCADE
);
CREATE INDEX sentences_topic_idx ON sentences (topic_id);
CREATE INDEX sentences_quarter_idx ON sentences (quarter);

-- Cross-firm themes of a quarter, replaced as a whole when the quarter's themes are re-materialized.
CREATE TABLE themes (
    theme_id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    quarter            text NOT NULL,
    theme_local_id     integer NOT NULL,
    name               text NOT NULL,
    description        text NOT NULL,
    keywords           text[] NOT NULL,
    n_firms            integer NOT NULL,
    n_topics           integer NOT NULL,
    source             text NOT NULL CHECK (source IN ('llm', 'extractive')),
    fallback_reason    text,
    embedding          vector({embedding_dim}) NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (quarter, theme_local_id)
);

-- A topic belongs to at most one theme.
CREATE TABLE topic_themes (
    topic_id           bigint PRIMARY KEY REFERENCES topics (topic_id) ON DELETE CASCADE,
    theme_id           bigint NOT NULL REFERENCES themes (theme_id) ON DELETE CASCADE,
    rank_in_theme      integer NOT NULL
);
CREATE INDEX topic_themes_theme_idx ON topic_themes (theme_id);

-- Per-firm outcome of the latest attempt (the retry job and resumes read it).
CREATE TABLE firm_runs (
    firm_id            text NOT NULL,
    quarter            text NOT NULL,
    status             text NOT NULL CHECK (status IN ('succeeded', 'failed')),
    error              text,
    run_id             text,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (firm_id, quarter)
);

-- Quarter-level theme runs: coverage and LLM usage.
CREATE TABLE quarter_runs (
    quarter            text PRIMARY KEY,
    n_firms_included   integer NOT NULL,
    n_firms_expected   integer,
    n_themes           integer NOT NULL,
    n_topics_assigned  integer NOT NULL,
    prompt_tokens      integer NOT NULL DEFAULT 0,
    completion_tokens  integer NOT NULL DEFAULT 0,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
