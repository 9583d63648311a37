-- Traceability views for search and for researchers in psql (docs/search.md). Read-only, no embeddings.
-- Both directions: sentence -> topic -> theme (sentence_lineage, topic_lineage) and
-- theme -> topics -> firms -> sentences (theme_sentences).

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
LEFT JOIN topic_themes tt ON tt.topic_id = t.topic_id
LEFT JOIN themes th ON th.theme_id = tt.theme_id;

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
LEFT JOIN topics t ON t.topic_id = s.topic_id
LEFT JOIN topic_themes tt ON tt.topic_id = s.topic_id
LEFT JOIN themes th ON th.theme_id = tt.theme_id;

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
JOIN topic_themes tt ON tt.theme_id = th.theme_id
JOIN topics t ON t.topic_id = tt.topic_id
JOIN firms f ON f.firm_id = t.firm_id AND f.quarter = t.quarter
JOIN sentences s ON s.topic_id = t.topic_id;

COMMENT ON VIEW theme_sentences IS
'Downward trace: one row per sentence of every topic of every theme (theme -> topics -> firms -> sentences). '
'Example: SELECT firm_id, topic_label, sentence_id, text FROM theme_sentences WHERE theme_id = 7 '
'ORDER BY rank_in_theme, sentence_index;';
