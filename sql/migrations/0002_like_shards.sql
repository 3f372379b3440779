-- likecounter schema, version 2: hot-item counter shards.
-- Each like row records the counter shard it was counted in. An unlike gives its one back to that
-- same shard, so a shard's count is always the number of like rows that name it: no shard can go
-- negative, however the writers spread a hot item's likes.
-- A constant default makes this a catalog-only change: existing rows are not rewritten, and they
-- read as shard 0, where every like was counted before version 2. The row does not grow either:
-- (8 + 8 + 2 + 2) bytes of data pad to the same 8-byte boundary as (8 + 8 + 2) did.
ALTER TABLE likes ADD COLUMN shard smallint NOT NULL DEFAULT 0;
