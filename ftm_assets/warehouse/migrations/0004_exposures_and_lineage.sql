-- The research panel: firm x theme and firm x topic exposures of a quarter, and each theme's link to
-- the previous quarter's theme it continues (lineage).
--
-- Every table has a `quarter` column and NO foreign key to sentences/topics/themes: ids are plain
-- bigint columns, and the code replaces a quarter's rows in one transaction
-- (warehouse/exposure.py, warehouse/lineage.py), so these tables do not depend on how the core
-- tables are keyed or partitioned.

-- One row per firm and theme of a quarter in which the firm has at least one topic.
-- exposure = n_sentences / n_substantive_sentences (the firm's sentences that carry a topic, plus its
-- outlier sentences that are not boilerplate); a firm's exposures sum to at most 1.
CREATE TABLE firm_theme_exposures (
    quarter                  text NOT NULL CHECK (quarter ~ '^[0-9]{4}Q[1-4]$'),
    firm_id                  text NOT NULL,
    theme_id                 bigint NOT NULL,
    n_topics                 integer NOT NULL CHECK (n_topics > 0),
    n_sentences              integer NOT NULL CHECK (n_sentences > 0),
    n_substantive_sentences  integer NOT NULL CHECK (n_substantive_sentences >= n_sentences),
    exposure                 double precision NOT NULL CHECK (exposure > 0 AND exposure <= 1),
    evidence_sentence_ids    bigint[] NOT NULL,
    PRIMARY KEY (quarter, firm_id, theme_id)
);
CREATE INDEX firm_theme_exposures_theme_idx ON firm_theme_exposures (quarter, theme_id);

-- One row per firm topic of a quarter (theme_id NULL when the topic joined no theme).
CREATE TABLE firm_topic_exposures (
    quarter                  text NOT NULL CHECK (quarter ~ '^[0-9]{4}Q[1-4]$'),
    firm_id                  text NOT NULL,
    topic_id                 bigint NOT NULL,
    theme_id                 bigint,
    n_sentences              integer NOT NULL CHECK (n_sentences > 0),
    n_substantive_sentences  integer NOT NULL CHECK (n_substantive_sentences >= n_sentences),
    exposure                 double precision NOT NULL CHECK (exposure > 0 AND exposure <= 1),
    evidence_sentence_ids    bigint[] NOT NULL,
    PRIMARY KEY (quarter, firm_id, topic_id)
);
CREATE INDEX firm_topic_exposures_theme_idx ON firm_topic_exposures (quarter, theme_id);

-- One row per theme of a quarter: the previous quarter's theme it continues (NULL: the theme starts
-- a lineage) and the lineage id, the theme_id of the chain's first theme.
CREATE TABLE theme_links (
    quarter          text NOT NULL CHECK (quarter ~ '^[0-9]{4}Q[1-4]$'),
    theme_id         bigint NOT NULL,
    lineage_id       bigint NOT NULL,
    prev_quarter     text,
    prev_theme_id    bigint,
    similarity       real,
    firm_overlap     real,
    PRIMARY KEY (quarter, theme_id),
    CHECK ((prev_theme_id IS NULL) = (prev_quarter IS NULL))
);
CREATE INDEX theme_links_lineage_idx ON theme_links (lineage_id);
CREATE UNIQUE INDEX theme_links_prev_idx ON theme_links (prev_quarter, prev_theme_id) WHERE prev_theme_id IS NOT NULL;

CREATE VIEW theme_exposure_panel AS
SELECT e.quarter,
       e.firm_id,
       f.firm_name,
       f.call_date,
       e.theme_id,
       th.name           AS theme_name,
       l.lineage_id,
       e.exposure,
       e.n_topics,
       e.n_sentences,
       e.n_substantive_sentences,
       e.evidence_sentence_ids
FROM firm_theme_exposures e
JOIN firms f ON f.firm_id = e.firm_id AND f.quarter = e.quarter
JOIN themes th ON th.theme_id = e.theme_id AND th.quarter = e.quarter
LEFT JOIN theme_links l ON l.theme_id = e.theme_id AND l.quarter = e.quarter;

COMMENT ON VIEW theme_exposure_panel IS
'The firm x theme panel with firm and theme names: exposure = share of the firm''s substantive sentences '
'in the theme''s topics. Example: SELECT firm_name, theme_name, exposure FROM theme_exposure_panel '
'WHERE quarter = ''2020Q2'' ORDER BY exposure DESC LIMIT 20;';

CREATE VIEW topic_exposure_panel AS
SELECT e.quarter,
       e.firm_id,
       f.firm_name,
       f.call_date,
       e.topic_id,
       t.label           AS topic_label,
       t.summary         AS topic_summary,
       e.theme_id,
       th.name           AS theme_name,
       e.exposure,
       e.n_sentences,
       e.n_substantive_sentences,
       e.evidence_sentence_ids
FROM firm_topic_exposures e
JOIN firms f ON f.firm_id = e.firm_id AND f.quarter = e.quarter
JOIN topics t ON t.topic_id = e.topic_id AND t.quarter = e.quarter
LEFT JOIN themes th ON th.theme_id = e.theme_id AND th.quarter = e.quarter;

COMMENT ON VIEW topic_exposure_panel IS
'The firm x topic panel with firm, topic and theme names. Example: SELECT firm_id, topic_label, exposure '
'FROM topic_exposure_panel WHERE quarter = ''2020Q2'' AND firm_id = ''NEE'' ORDER BY exposure DESC;';
