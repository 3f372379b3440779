-- Named queries of likecounter. Each starts with a `-- name: NAME` header and runs to the next one.
-- `{schema}` is replaced by the quoted schema identifier (psycopg.sql.Identifier) when a counter is
-- built; every value is passed as a bound parameter. Braces are reserved for that placeholder.
-- Array parameters are marked %(name)b: psycopg sends them in binary. In text it checks each element
-- against a regular expression for quoting, about a tenth of a 1,000-key bulk step's time.

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
-- Insert the like row and, only if it was new, add one to its counter shard: one statement, one
-- transaction. Returns whether a row was inserted and the item's count as this statement left it.
-- The count is NULL when the statement changed nothing, or when the item has other shards (a hot
-- item): their counts in this statement's snapshot may be stale, so the caller reads the count anew.
WITH inserted AS (
    INSERT INTO {schema}.likes (user_id, item_id, type_id, shard)
    VALUES (%(user_id)s, %(item_id)s, %(type_id)s, %(shard)s)
    ON CONFLICT DO NOTHING
    RETURNING item_id, shard
), bumped AS (
    INSERT INTO {schema}.counters AS c (type_id, item_id, shard, like_count)
    SELECT %(type_id)s, item_id, shard, 1 FROM inserted
    ON CONFLICT (type_id, item_id, shard) DO UPDATE SET like_count = c.like_count + 1
    RETURNING shard, like_count
)
SELECT EXISTS (SELECT FROM inserted) AS changed,
       (SELECT b.like_count FROM bumped AS b
         WHERE NOT EXISTS (SELECT FROM {schema}.counters AS o
                            WHERE o.type_id = %(type_id)s AND o.item_id = %(item_id)s
                              AND o.shard <> b.shard)) AS like_count

-- name: unlike
-- Delete the like row and take one from the shard that row was counted in, only when a row was
-- really deleted. The count is as in `like`.
-- An upsert rather than an UPDATE, as in write_batch: an UPDATE skips a counter row that another
-- transaction has inserted but not committed, while the upsert waits for it and then takes its one
-- from the committed row. reconcile inserts such rows (a missing counter shard, recounted under
-- its lock); an unlike that skipped it would be lost. When no counter row exists at all, the shard
-- was already drifted; it is created at 0 and verify reports it.
WITH deleted AS (
    DELETE FROM {schema}.likes
     WHERE user_id = %(user_id)s AND type_id = %(type_id)s AND item_id = %(item_id)s
    RETURNING shard
), dropped AS (
    INSERT INTO {schema}.counters AS c (type_id, item_id, shard, like_count)
    SELECT %(type_id)s, %(item_id)s, shard, 0 FROM deleted
    ON CONFLICT (type_id, item_id, shard) DO UPDATE SET like_count = c.like_count - 1
    RETURNING c.shard, c.like_count
)
SELECT EXISTS (SELECT FROM deleted) AS changed,
       (SELECT d.like_count FROM dropped AS d
         WHERE NOT EXISTS (SELECT FROM {schema}.counters AS o
                            WHERE o.type_id = %(type_id)s AND o.item_id = %(item_id)s
                              AND o.shard <> d.shard)) AS like_count

-- name: count
SELECT coalesce(sum(like_count), 0)::bigint
  FROM {schema}.counters
 WHERE type_id = %(type_id)s AND item_id = %(item_id)s

-- name: counts
SELECT c.type_id, c.item_id, sum(c.like_count)::bigint
  FROM {schema}.counters AS c
  JOIN unnest(%(type_ids)b::smallint[], %(item_ids)b::bigint[]) AS k (type_id, item_id)
    ON c.type_id = k.type_id AND c.item_id = k.item_id
 GROUP BY c.type_id, c.item_id

-- name: has_liked
SELECT item_id
  FROM {schema}.likes
 WHERE user_id = %(user_id)s AND type_id = %(type_id)s AND item_id = ANY(%(item_ids)b::bigint[])

-- name: write_batch
-- Many writes in one statement: coalesced single ops, and the bulk path (apply_events, like_many,
-- unlike_many). Each (user, type, item) key appears at most once, with its final action
-- (true = like) and the counter shard a new like is counted in (0 unless the item is hot). Like rows
-- are inserted, and locked for deletion, in (user, type, item) order; each touched counter shard
-- then gets its net change, in (type, item, shard) order: two statements never lock rows in
-- opposite orders.
-- One row comes back per op, in the order given: whether the op changed anything, and its item's
-- count as of that op (NULL when the statement left that item's counters alone, or when the item
-- has shards the statement did not touch).
WITH ops AS (
    SELECT * FROM unnest(%(user_ids)b::bigint[], %(item_ids)b::bigint[],
                         %(type_ids)b::smallint[], %(is_like)b::boolean[], %(shards)b::smallint[])
             WITH ORDINALITY AS o (user_id, item_id, type_id, is_like, shard, position)
), inserted AS (
    INSERT INTO {schema}.likes (user_id, item_id, type_id, shard)
    SELECT user_id, item_id, type_id, shard FROM ops WHERE is_like
     ORDER BY user_id, type_id, item_id
    ON CONFLICT DO NOTHING
    RETURNING user_id, type_id, item_id, shard
), doomed AS MATERIALIZED (
    -- The like rows to delete, locked in key order first, as the INSERT above takes new keys: two
    -- statements that delete overlapping keys then wait for each other in one order, never in a
    -- cycle. (A DELETE ... USING ops would lock them in whatever order its join met them.)
    SELECT l.user_id, l.type_id, l.item_id
      FROM {schema}.likes AS l
      JOIN ops AS o
        ON l.user_id = o.user_id AND l.type_id = o.type_id AND l.item_id = o.item_id
     WHERE NOT o.is_like
     ORDER BY l.user_id, l.type_id, l.item_id
       FOR UPDATE OF l
), deleted AS (
    -- An unlike gives its one back to the shard its like row was counted in.
    DELETE FROM {schema}.likes AS l
     USING doomed AS d
     WHERE l.user_id = d.user_id AND l.type_id = d.type_id AND l.item_id = d.item_id
    RETURNING l.user_id, l.type_id, l.item_id, l.shard
), delta AS (
    SELECT type_id, item_id, shard, sum(change)::bigint AS change
      FROM (SELECT type_id, item_id, shard, 1 AS change FROM inserted
            UNION ALL
            SELECT type_id, item_id, shard, -1 FROM deleted) AS changes
     GROUP BY type_id, item_id, shard
    -- No HAVING: a shard whose changes cancel out still takes its
    -- (no-op) update, which locks the row and returns its committed count for the ops' counts.
), counted AS (
    INSERT INTO {schema}.counters AS c (type_id, item_id, shard, like_count)
    SELECT d.type_id, d.item_id, d.shard, greatest(d.change, 0)
      FROM delta AS d
     ORDER BY d.type_id, d.item_id, d.shard
    ON CONFLICT (type_id, item_id, shard) DO UPDATE
       SET like_count = c.like_count + CASE
               WHEN excluded.like_count > 0 THEN excluded.like_count
               ELSE (SELECT d.change FROM delta AS d
                      WHERE d.type_id = excluded.type_id AND d.item_id = excluded.item_id
                        AND d.shard = excluded.shard)
           END
    RETURNING c.type_id, c.item_id, c.shard, c.like_count
), totals AS (
    -- Per touched item: its net change, and its count as this statement left it. An item with a
    -- shard this statement did not touch (a hot item's) gets no count here: that shard's count in
    -- this statement's snapshot may be stale, so the caller reads the count anew.
    SELECT t.type_id, t.item_id, t.change, t.like_count
      FROM (SELECT c.type_id, c.item_id, sum(d.change) AS change, sum(c.like_count) AS like_count,
                   array_agg(c.shard) AS shards
              FROM counted AS c
              JOIN delta AS d ON d.type_id = c.type_id AND d.item_id = c.item_id AND d.shard = c.shard
             GROUP BY c.type_id, c.item_id) AS t
     WHERE NOT EXISTS (SELECT FROM {schema}.counters AS o
                        WHERE o.type_id = t.type_id AND o.item_id = t.item_id
                          AND NOT (o.shard = ANY (t.shards)))
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
       (t.like_count - t.change
           + sum(p.change) OVER (PARTITION BY p.type_id, p.item_id ORDER BY p.position))::bigint
           AS like_count
  FROM per_op AS p
  LEFT JOIN totals AS t ON t.type_id = p.type_id AND t.item_id = p.item_id
 ORDER BY p.position

-- name: verify_batch
-- One batch of verify/reconcile: the next `limit` items, in (type_id, item_id) order, from the
-- key (type_id, item_id) given on, that have a counter row or a like row. Every counter shard of
-- those items is compared with the like rows naming it, in this statement's one snapshot. Returns
-- one row per drifted item (shards summed; the drifted shards listed), or a single row with NULL
-- drift columns when there is none; every row carries the batch's item count and its last key,
-- from which the caller starts the next batch. Reads only.
-- The likes table has no index led by (type_id, item_id), so each batch scans it.
WITH batch AS (
    SELECT type_id, item_id
      FROM ((SELECT DISTINCT type_id, item_id FROM {schema}.counters
              WHERE (type_id, item_id) >= (%(type_id)s, %(item_id)s)
              ORDER BY type_id, item_id LIMIT %(limit)s)
            UNION
            (SELECT DISTINCT type_id, item_id FROM {schema}.likes
              WHERE (type_id, item_id) >= (%(type_id)s, %(item_id)s)
              ORDER BY type_id, item_id LIMIT %(limit)s)) AS found
     ORDER BY type_id, item_id LIMIT %(limit)s
), last AS (
    SELECT type_id, item_id FROM batch ORDER BY type_id DESC, item_id DESC LIMIT 1
), expected AS (
    SELECT l.type_id, l.item_id, l.shard, count(*) AS n
      FROM {schema}.likes AS l, last
     WHERE (l.type_id, l.item_id) >= (%(type_id)s, %(item_id)s)
       AND (l.type_id, l.item_id) <= (last.type_id, last.item_id)
     GROUP BY l.type_id, l.item_id, l.shard
), actual AS (
    SELECT c.type_id, c.item_id, c.shard, c.like_count
      FROM {schema}.counters AS c, last
     WHERE (c.type_id, c.item_id) >= (%(type_id)s, %(item_id)s)
       AND (c.type_id, c.item_id) <= (last.type_id, last.item_id)
), shards AS (
    SELECT coalesce(e.type_id, a.type_id) AS type_id, coalesce(e.item_id, a.item_id) AS item_id,
           coalesce(e.shard, a.shard) AS shard, coalesce(e.n, 0) AS expected, a.like_count AS actual
      FROM expected AS e
      FULL JOIN actual AS a ON a.type_id = e.type_id AND a.item_id = e.item_id AND a.shard = e.shard
), drifted AS (
    SELECT type_id, item_id, sum(expected)::bigint AS expected,
           coalesce(sum(actual), 0)::bigint AS actual,
           array_agg(shard ORDER BY shard) FILTER (WHERE expected <> coalesce(actual, 0)) AS shards,
           count(*) FILTER (WHERE actual IS NULL) AS missing,
           count(*) FILTER (WHERE expected = 0 AND actual > 0) AS orphaned
      FROM shards
     GROUP BY type_id, item_id
    HAVING bool_or(expected <> coalesce(actual, 0))
)
SELECT (SELECT count(*) FROM batch) AS items, last.type_id, last.item_id,
       d.type_id, d.item_id, t.name, d.expected, d.actual, d.shards, d.missing, d.orphaned
  FROM (SELECT) AS one
  LEFT JOIN last ON true
  LEFT JOIN drifted AS d ON true
  LEFT JOIN {schema}.item_types AS t ON t.type_id = d.type_id
 ORDER BY d.type_id, d.item_id

-- name: reconcile_lock
-- First statement of a reconcile batch's transaction: lock the drifted counter shards, creating
-- the missing ones at 0, in (type, item, shard) order, the order write_batch locks in, so the two
-- never deadlock. From here until commit every writer of these shards waits for this transaction:
-- a like/unlike's like row may already be written, but its counter change is not.
INSERT INTO {schema}.counters AS c (type_id, item_id, shard, like_count)
SELECT type_id, item_id, shard, 0
  FROM unnest(%(type_ids)s::smallint[], %(item_ids)s::bigint[], %(shards)s::smallint[])
       AS k (type_id, item_id, shard)
 ORDER BY type_id, item_id, shard
ON CONFLICT (type_id, item_id, shard) DO UPDATE SET like_count = c.like_count

-- name: reconcile_fix
-- Second statement of that transaction, with a snapshot taken after the locks were granted: it
-- sees every write that changed these shards before, and none of those waiting on the locks,
-- whose counter change then lands on the count set here. Sets each locked shard to the number of
-- like rows naming it, and returns the rows it changed.
WITH keys AS (
    SELECT * FROM unnest(%(type_ids)s::smallint[], %(item_ids)s::bigint[], %(shards)s::smallint[])
                  AS k (type_id, item_id, shard)
), counted AS (
    SELECT l.type_id, l.item_id, l.shard, count(*) AS n
      FROM {schema}.likes AS l
      JOIN keys AS k ON k.type_id = l.type_id AND k.item_id = l.item_id AND k.shard = l.shard
     GROUP BY l.type_id, l.item_id, l.shard
), target AS (
    SELECT k.type_id, k.item_id, k.shard, coalesce(n.n, 0) AS n
      FROM keys AS k
      LEFT JOIN counted AS n ON n.type_id = k.type_id AND n.item_id = k.item_id AND n.shard = k.shard
)
UPDATE {schema}.counters AS c
   SET like_count = t.n
  FROM target AS t
 WHERE c.type_id = t.type_id AND c.item_id = t.item_id AND c.shard = t.shard
   AND c.like_count <> t.n
RETURNING c.type_id, c.item_id, c.shard

-- name: user_likes
-- One page of a user's likes in (type_id, item_id) order from a key on (the primary key's order).
SELECT type_id, item_id
  FROM {schema}.likes
 WHERE user_id = %(user_id)s AND (type_id, item_id) >= (%(type_id)s, %(item_id)s)
 ORDER BY type_id, item_id
 LIMIT %(limit)s

-- name: ping
SELECT 1
