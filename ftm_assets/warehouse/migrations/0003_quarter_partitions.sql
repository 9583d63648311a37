-- Quarter-partitioned storage (docs/search.md, "A decade of quarters").
--
-- sentences, topics, themes and topic_themes become LIST-partitioned by quarter: one partition per
-- quarter (e.g. sentences_2020q2), created when the quarter is first written (the trigger on firms,
-- or ftm_ensure_quarter_partitions() before a quarter's themes), and one HNSW index per partition,
-- built once after the quarter's load (warehouse.quarters.build_quarter_indexes). The ids stay globally
-- unique bigints (one identity sequence per table, shared by its partitions); primary keys carry the
-- quarter, as PostgreSQL requires. Foreign keys to firms are declared on the partitioned tables; the
-- ones between two partitioned tables (sentence -> topic, topic_theme -> topic and theme) are
-- declared between the quarter's partitions (listed in ftm_quarter_foreign_keys), so a quarter's
-- partitions can be dropped without PostgreSQL checking or locking any other quarter.
-- {vector_type} is vector or halfvec (FTM_VECTOR_TYPE when the database is created, recorded in
-- ftm_meta); an existing database keeps vector. Existing rows are moved with their ids.

DROP VIEW IF EXISTS theme_sentences;
DROP VIEW IF EXISTS sentence_lineage;
DROP VIEW IF EXISTS topic_lineage;

-- The old tables step aside under *_v2 names (their indexes too, so the new names are free).
DO $$
DECLARE
    t text;
    idx record;
BEGIN
    FOREACH t IN ARRAY ARRAY['topic_themes', 'sentences', 'themes', 'topics'] LOOP
        FOR idx IN SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                   WHERE i.indrelid = t::regclass LOOP
            EXECUTE format('ALTER INDEX %I RENAME TO %I', idx.relname, idx.relname || '_v2');
        END LOOP;
        EXECUTE format('ALTER TABLE %I RENAME TO %I', t, t || '_v2');
    END LOOP;
END $$;

CREATE TABLE topics (
    topic_id           bigint GENERATED ALWAYS AS IDENTITY,
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
    embedding          {vector_type}({embedding_dim}) NOT NULL,
    PRIMARY KEY (topic_id, quarter),
    UNIQUE (firm_id, quarter, local_topic_id),
    FOREIGN KEY (firm_id, quarter) REFERENCES firms (firm_id, quarter) ON DELETE CASCADE
) PARTITION BY LIST (quarter);
CREATE INDEX topics_topic_id_idx ON topics (topic_id);

CREATE TABLE sentences (
    sentence_id        bigint GENERATED ALWAYS AS IDENTITY,
    firm_id            text NOT NULL,
    quarter            text NOT NULL,
    sentence_index     integer NOT NULL,
    text               text NOT NULL,
    section            text,
    speaker            text,
    topic_id           bigint,
    embedding          {vector_type}({embedding_dim}) NOT NULL,
    PRIMARY KEY (sentence_id, quarter),
    UNIQUE (firm_id, quarter, sentence_index),
    FOREIGN KEY (firm_id, quarter) REFERENCES firms (firm_id, quarter) ON DELETE CASCADE
) PARTITION BY LIST (quarter);
CREATE INDEX sentences_topic_idx ON sentences (topic_id);
CREATE INDEX sentences_sentence_id_idx ON sentences (sentence_id);

CREATE TABLE themes (
    theme_id           bigint GENERATED ALWAYS AS IDENTITY,
    quarter            text NOT NULL,
    theme_local_id     integer NOT NULL,
    name               text NOT NULL,
    description        text NOT NULL,
    keywords           text[] NOT NULL,
    n_firms            integer NOT NULL,
    n_topics           integer NOT NULL,
    source             text NOT NULL CHECK (source IN ('llm', 'extractive')),
    fallback_reason    text,
    embedding          {vector_type}({embedding_dim}) NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (theme_id, quarter),
    UNIQUE (quarter, theme_local_id)
) PARTITION BY LIST (quarter);
CREATE INDEX themes_theme_id_idx ON themes (theme_id);

-- A topic belongs to at most one theme, of its own quarter.
CREATE TABLE topic_themes (
    topic_id           bigint NOT NULL,
    quarter            text NOT NULL,
    theme_id           bigint NOT NULL,
    rank_in_theme      integer NOT NULL,
    PRIMARY KEY (topic_id, quarter)
) PARTITION BY LIST (quarter);
CREATE INDEX topic_themes_theme_idx ON topic_themes (theme_id);

-- Foreign keys between the partitions of one quarter: child_table's partition references
-- parent_table's partition of the same quarter.
CREATE TABLE ftm_quarter_foreign_keys (
    child_table    text NOT NULL,
    child_columns  text NOT NULL,
    parent_table   text NOT NULL,
    parent_columns text NOT NULL,
    on_delete      text NOT NULL,
    PRIMARY KEY (child_table, child_columns)
);
INSERT INTO ftm_quarter_foreign_keys VALUES
    ('sentences', 'topic_id, quarter', 'topics', 'topic_id, quarter', 'SET NULL (topic_id)'),
    ('topic_themes', 'topic_id, quarter', 'topics', 'topic_id, quarter', 'CASCADE'),
    ('topic_themes', 'theme_id, quarter', 'themes', 'theme_id, quarter', 'CASCADE');

-- One partition per quarter for every LIST-partitioned table with a quarter column (tables added
-- by later migrations included), created when missing, then the foreign keys of the partitions
-- created now. Serialized by an advisory lock, so two writers of a new quarter cannot both create
-- one.
CREATE FUNCTION ftm_ensure_quarter_partitions(q text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    parent record;
    fk record;
    part text;
    created text[] := '{}';
BEGIN
    IF q !~ '^[0-9]{4}Q[1-4]$' THEN
        RAISE EXCEPTION 'quarter % is not of the form YYYYQn', q;
    END IF;
    FOR parent IN
        SELECT c.relname FROM pg_partitioned_table p
        JOIN pg_class c ON c.oid = p.partrelid
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'quarter' AND NOT a.attisdropped
        WHERE p.partstrat = 'l' AND c.relnamespace = current_schema()::regnamespace
          AND NOT c.relispartition
        ORDER BY c.relname
    LOOP
        part := parent.relname || '_' || lower(q);
        IF to_regclass(quote_ident(part)) IS NULL THEN
            PERFORM pg_advisory_xact_lock(73112025);
            IF to_regclass(quote_ident(part)) IS NULL THEN
                EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES IN (%L)', part, parent.relname, q);
                created := created || parent.relname::text;
            END IF;
        END IF;
    END LOOP;
    FOR fk IN SELECT * FROM ftm_quarter_foreign_keys WHERE child_table = ANY(created) ORDER BY 1, 2 LOOP
        EXECUTE format('ALTER TABLE %I ADD FOREIGN KEY (%s) REFERENCES %I (%s) ON DELETE %s',
                       fk.child_table || '_' || lower(q), fk.child_columns,
                       fk.parent_table || '_' || lower(q), fk.parent_columns, fk.on_delete);
    END LOOP;
END $$;

CREATE FUNCTION ftm_firms_quarter_partitions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ftm_ensure_quarter_partitions(NEW.quarter);
    RETURN NEW;
END $$;

CREATE TRIGGER firms_quarter_partitions BEFORE INSERT ON firms
    FOR EACH ROW EXECUTE FUNCTION ftm_firms_quarter_partitions();

-- Move the rows, ids kept (quarters of themes without firms included).
SELECT ftm_ensure_quarter_partitions(q)
FROM (SELECT quarter FROM firms UNION SELECT quarter FROM themes_v2) AS quarters(q);

INSERT INTO topics (topic_id, firm_id, quarter, local_topic_id, label, keywords, size,
                    representative_sentence_indexes, summary, summary_source, fallback_reason,
                    prompt_tokens, completion_tokens, embedding)
OVERRIDING SYSTEM VALUE
SELECT topic_id, firm_id, quarter, local_topic_id, label, keywords, size, representative_sentence_indexes,
       summary, summary_source, fallback_reason, prompt_tokens, completion_tokens, embedding::{vector_type}
FROM topics_v2;

INSERT INTO sentences (sentence_id, firm_id, quarter, sentence_index, text, section, speaker, topic_id, embedding)
OVERRIDING SYSTEM VALUE
SELECT sentence_id, firm_id, quarter, sentence_index, text, section, speaker, topic_id, embedding::{vector_type}
FROM sentences_v2;

INSERT INTO themes (theme_id, quarter, theme_local_id, name, description, keywords, n_firms, n_topics,
                    source, fallback_reason, embedding, created_at)
OVERRIDING SYSTEM VALUE
SELECT theme_id, quarter, theme_local_id, name, description, keywords, n_firms, n_topics, source,
       fallback_reason, embedding::{vector_type}, created_at
FROM themes_v2;

INSERT INTO topic_themes (topic_id, quarter, theme_id, rank_in_theme)
SELECT tt.topic_id, t.quarter, tt.theme_id, tt.rank_in_theme
FROM topic_themes_v2 tt JOIN topics_v2 t ON t.topic_id = tt.topic_id;

-- New ids continue after the moved ones.
SELECT setval(pg_get_serial_sequence('topics', 'topic_id'), coalesce(max(topic_id), 0) + 1, false) FROM topics;
SELECT setval(pg_get_serial_sequence('sentences', 'sentence_id'), coalesce(max(sentence_id), 0) + 1, false)
FROM sentences;
SELECT setval(pg_get_serial_sequence('themes', 'theme_id'), coalesce(max(theme_id), 0) + 1, false) FROM themes;

DROP TABLE topic_themes_v2, sentences_v2, themes_v2, topics_v2;

-- The views of 0002, recreated over the partitioned tables (joins carry the quarter, so a
-- quarter filter prunes every table to its partition).
CREATE VIEW topic_lineage AS
SELECT t.topic_id,
       t.firm_id,
       f.firm_name,
       t.quarter,
       t.local_topic_id,
       t.label           AS topic_label,
       t.keywords        AS topic_keywords,
       t.size            AS topic_size,
       t.summary         AS topic_summary,
       t.summary_source,
       th.theme_id,
       th.name           AS theme_name,
       th.description    AS theme_description,
       tt.rank_in_theme
FROM topics t
JOIN firms f ON f.firm_id = t.firm_id AND f.quarter = t.quarter
LEFT JOIN topic_themes tt ON tt.topic_id = t.topic_id AND tt.quarter = t.quarter
LEFT JOIN themes th ON th.theme_id = tt.theme_id AND th.quarter = tt.quarter;

COMMENT ON VIEW topic_lineage IS
'One row per firm topic with its firm and, when the quarter''s themes assigned it, its theme '
'(theme_id NULL otherwise). Example: SELECT * FROM topic_lineage WHERE theme_id = 7 ORDER BY rank_in_theme;';

CREATE VIEW sentence_lineage AS
SELECT s.sentence_id,
       s.firm_id,
       f.firm_name,
       s.quarter,
       s.sentence_index,
       s.section,
       s.speaker,
       s.text,
       t.topic_id,
       t.local_topic_id,
       t.label           AS topic_label,
       t.summary         AS topic_summary,
       th.theme_id,
       th.name           AS theme_name,
       th.description    AS theme_description,
       tt.rank_in_theme
FROM sentences s
JOIN firms f ON f.firm_id = s.firm_id AND f.quarter = s.quarter
LEFT JOIN topics t ON t.topic_id = s.topic_id AND t.quarter = s.quarter
LEFT JOIN topic_themes tt ON tt.topic_id = s.topic_id AND tt.quarter = s.quarter
LEFT JOIN themes th ON th.theme_id = tt.theme_id AND th.quarter = tt.quarter;

COMMENT ON VIEW sentence_lineage IS
'Upward trace: one row per stored sentence with its firm, quarter, topic (NULL for BERTopic outliers) '
'and theme (NULL when the topic joined no theme). Example: SELECT * FROM sentence_lineage WHERE sentence_id = 123;';

CREATE VIEW theme_sentences AS
SELECT th.theme_id,
       th.quarter,
       th.name           AS theme_name,
       t.firm_id,
       f.firm_name,
       t.topic_id,
       t.label           AS topic_label,
       tt.rank_in_theme,
       s.sentence_id,
       s.sentence_index,
       s.text
FROM themes th
JOIN topic_themes tt ON tt.theme_id = th.theme_id AND tt.quarter = th.quarter
JOIN topics t ON t.topic_id = tt.topic_id AND t.quarter = tt.quarter
JOIN firms f ON f.firm_id = t.firm_id AND f.quarter = t.quarter
JOIN sentences s ON s.topic_id = t.topic_id AND s.quarter = t.quarter;

COMMENT ON VIEW theme_sentences IS
'Downward trace: one row per sentence of every topic of every theme (theme -> topics -> firms -> sentences). '
'Example: SELECT firm_id, topic_label, sentence_id, text FROM theme_sentences WHERE theme_id = 7 '
'ORDER BY rank_in_theme, sentence_index;';
