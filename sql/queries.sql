-- Named queries of likecounter. Each starts with a `-- name: NAME` header and runs to the next one.
-- `{schema}` is replaced by the quoted schema identifier (psycopg.sql.Identifier) when a counter is
-- built; every value is passed as a bound parameter. Braces are reserved for that placeholder.

-- name: create_schema
CREATE SCHEMA IF NOT EXISTS {schema}

-- name: migration_lock
-- One lock per schema, held until the migration transaction ends.
SELECT pg_advisory_xact_lock(hashtextextended('likecounter:' || %(schema)s, 0))

-- name: use_schema
SET LOCAL search_path TO {schema}

-- name: create_version_table
CREATE TABLE IF NOT EXISTS {schema}.schema_version (
    version    integer     PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)

-- name: current_version
SELECT coalesce(max(version), 0) FROM {schema}.schema_version

-- name: record_version
INSERT INTO {schema}.schema_version (version) VALUES (%(version)s)

-- name: table_exists
SELECT to_regclass(%(table)s) IS NOT NULL

-- name: find_types
-- Reads never register a type: an unknown name simply has no row here.
SELECT name, type_id FROM {schema}.item_types WHERE name = ANY(%(names)s::text[])

-- name: register_type
-- Registers a type if it is new and returns its id either way, in one round trip. The INSERT is only
-- tried when no row exists: even a conflicting INSERT draws an identity value, and the smallint
-- sequence would run out after 32767 lookups of known names. When a concurrent registration commits
-- after this statement's snapshot, no row comes back; the caller then runs the statement again.
WITH existing AS (
    SELECT type_id FROM {schema}.item_types WHERE name = %(name)s
), new AS (
    INSERT INTO {schema}.item_types (name)
    SELECT %(name)s::text WHERE NOT EXISTS (SELECT FROM existing)
    ON CONFLICT (name) DO NOTHING
    RETURNING type_id
)
SELECT type_id FROM existing
UNION ALL
SELECT type_id FROM new

-- name: like
-- Insert the like row and, only if it was new, add one to the counter: one statement, one
-- transaction. Returns whether a row was inserted and the item's count as this statement left it.
WITH inserted AS (
    INSERT INTO {schema}.likes (user_id, item_id, type_id)
    VALUES (%(user_id)s, %(item_id)s, %(type_id)s)
    ON CONFLICT DO NOTHING
    RETURNING item_id
), bumped AS (
    INSERT INTO {schema}.counters AS c (type_id, item_id, shard, like_count)
    SELECT %(type_id)s, item_id, 0, 1 FROM inserted
    ON CONFLICT (type_id, item_id, shard) DO UPDATE SET like_count = c.like_count + 1
    RETURNING like_count
)
SELECT EXISTS (SELECT FROM inserted) AS changed,
       coalesce((SELECT like_count FROM bumped),
                (SELECT sum(like_count) FROM {schema}.counters
                  WHERE type_id = %(type_id)s AND item_id = %(item_id)s),
                0)::bigint AS like_count

-- name: unlike
-- Delete the like row and subtract one only when a row was really deleted.
WITH deleted AS (
    DELETE FROM {schema}.likes
     WHERE user_id = %(user_id)s AND type_id = %(type_id)s AND item_id = %(item_id)s
    RETURNING item_id
), dropped AS (
    UPDATE {schema}.counters
       SET like_count = like_count - 1
     WHERE type_id = %(type_id)s AND item_id = %(item_id)s AND shard = 0
       AND EXISTS (SELECT FROM deleted)
    RETURNING like_count
)
SELECT EXISTS (SELECT FROM deleted) AS changed,
       coalesce((SELECT like_count FROM dropped),
                (SELECT sum(like_count) FROM {schema}.counters
                  WHERE type_id = %(type_id)s AND item_id = %(item_id)s),
                0)::bigint AS like_count

-- name: count
SELECT coalesce(sum(like_count), 0)::bigint
  FROM {schema}.counters
 WHERE type_id = %(type_id)s AND item_id = %(item_id)s

-- name: counts
SELECT c.type_id, c.item_id, sum(c.like_count)::bigint
  FROM {schema}.counters AS c
  JOIN unnest(%(type_ids)s::smallint[], %(item_ids)s::bigint[]) AS k (type_id, item_id)
    ON c.type_id = k.type_id AND c.item_id = k.item_id
 GROUP BY c.type_id, c.item_id

-- name: has_liked
SELECT item_id
  FROM {schema}.likes
 WHERE user_id = %(user_id)s AND type_id = %(type_id)s AND item_id = ANY(%(item_ids)s::bigint[])

-- name: write_batch
-- Many writes in one statement: coalesced single ops, and the bulk path (apply_events, like_many,
-- unlike_many). Each (user, type, item) key appears at most once, with its final action
-- (true = like). Like rows are inserted or deleted as a set; each touched counter then gets its
-- net change.
-- One row comes back per op, in the order given: whether the op changed anything, and its item's
-- count as of that op (NULL when the statement left that counter alone).
WITH ops AS (
    SELECT * FROM unnest(%(user_ids)s::bigint[], %(item_ids)s::bigint[],
                         %(type_ids)s::smallint[], %(is_like)s::boolean[])
             WITH ORDINALITY AS o (user_id, item_id, type_id, is_like, position)
), inserted AS (
    INSERT INTO {schema}.likes (user_id, item_id, type_id)
    SELECT user_id, item_id, type_id FROM ops WHERE is_like
     ORDER BY user_id, type_id, item_id
    ON CONFLICT DO NOTHING
    RETURNING user_id, type_id, item_id
), deleted AS (
    DELETE FROM {schema}.likes AS l
     USING ops AS o
     WHERE NOT o.is_like
       AND l.user_id = o.user_id AND l.type_id = o.type_id AND l.item_id = o.item_id
    RETURNING l.user_id, l.type_id, l.item_id
), delta AS (
    SELECT type_id, item_id, sum(change)::bigint AS change
      FROM (SELECT type_id, item_id, 1 AS change FROM inserted
            UNION ALL
            SELECT type_id, item_id, -1 FROM deleted) AS changes
     GROUP BY type_id, item_id
    -- No HAVING: an item whose changes cancel out still takes its
    -- (no-op) update, which locks the row and returns its committed count for the ops' counts.
), counted AS (
    INSERT INTO {schema}.counters AS c (type_id, item_id, shard, like_count)
    SELECT d.type_id, d.item_id, 0, greatest(d.change, 0)
      FROM delta AS d
     ORDER BY d.type_id, d.item_id
    ON CONFLICT (type_id, item_id, shard) DO UPDATE
       SET like_count = c.like_count + CASE
               WHEN excluded.like_count > 0 THEN excluded.like_count
               ELSE (SELECT d.change FROM delta AS d
                      WHERE d.type_id = excluded.type_id AND d.item_id = excluded.item_id)
           END
    RETURNING c.type_id, c.item_id, c.like_count
), per_op AS (
    SELECT o.position, o.type_id, o.item_id,
           CASE WHEN i.user_id IS NOT NULL THEN 1 WHEN d.user_id IS NOT NULL THEN -1 ELSE 0 END AS change
      FROM ops AS o
      LEFT JOIN inserted AS i
        ON i.user_id = o.user_id AND i.type_id = o.type_id AND i.item_id = o.item_id
      LEFT JOIN deleted AS d
        ON d.user_id = o.user_id AND d.type_id = o.type_id AND d.item_id = o.item_id
)
-- Each op's count is the one a serial run in the given order would show: the item's count before
-- the statement plus the changes of the ops up to this one.
SELECT p.change <> 0 AS changed,
       c.like_count - dl.change
           + sum(p.change) OVER (PARTITION BY p.type_id, p.item_id ORDER BY p.position) AS like_count
  FROM per_op AS p
  LEFT JOIN counted AS c ON c.type_id = p.type_id AND c.item_id = p.item_id
  LEFT JOIN delta AS dl ON dl.type_id = p.type_id AND dl.item_id = p.item_id
 ORDER BY p.position

-- name: ping
SELECT 1
