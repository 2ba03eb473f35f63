-- Hearth store, schema 1: state, history, downsampled history, audit.
--
-- Row sizes matter more than usual here: the store lives on SD cards, and
-- every page a commit touches is written twice (WAL, then checkpoint). See
-- the comment on history below for the layout choice and what was measured.

-- 0x48525448, "HRTH": tells Hearth's files apart from other SQLite files.
PRAGMA application_id = 1213355080;

-- Small key/value facts about the store. The highest hub event sequence
-- number committed is the larger of 'committed_seq' and state's highest seq,
-- so that most commits need not write this page.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO meta (key, value) VALUES ('committed_seq', 0);

-- One row per (entity, attribute) ever seen. History and state refer to it by
-- id so their rows carry a 1-2 byte integer instead of two strings. type and
-- unit are the latest seen.
CREATE TABLE series (
    id     INTEGER PRIMARY KEY,
    entity TEXT NOT NULL,
    attr   TEXT NOT NULL,
    type   TEXT NOT NULL,
    unit   TEXT NOT NULL DEFAULT '',
    UNIQUE (entity, attr)
);

-- Raw history. tk is the rowid and a time key: unix milliseconds << 12, plus a
-- counter for values in the same millisecond. The table is therefore stored
-- in time order and a time range is a rowid range, with no index at all.
--
-- Why not an index on (series, ts)? With ~150 live series, each 500-change
-- batch inserts into ~150 different leaf pages of such an index, and every
-- commit writes each of them to the WAL. Measured with BenchmarkDB_Ingest
-- (50 entities x 3 attributes, 500 changes per commit, checkpoints
-- included): that layout wrote 1,175 B per change over the first 50,000
-- changes and 2,537 B over 1,000,000 as the index grew; this one writes
-- 93 B. The price is that a query for one series scans every series' rows in
-- the time range (BenchmarkDB_HistoryLarge: 40 ms for a day of one series out
-- of 150 in a 1M-row store on amd64). Raw history is bounded by RawRetention;
-- longer ranges read history_agg, which is clustered by series.
CREATE TABLE history (
    tk     INTEGER PRIMARY KEY,
    series INTEGER NOT NULL REFERENCES series (id),
    num    REAL,  -- numbers; bools as 0/1
    txt    TEXT   -- enums, strings, times (RFC 3339)
);

-- Downsampled history: one row per series per DownsampleStep bucket, written
-- by Compact (hourly, in bulk), so clustering by series costs little and makes
-- long-range queries for one series cheap. min, max and a numeric last are
-- NULL when equal to mean, which is most buckets of slow-moving values.
CREATE TABLE history_agg (
    series INTEGER NOT NULL REFERENCES series (id),
    ts     INTEGER NOT NULL,  -- bucket start, unix milliseconds
    n      INTEGER NOT NULL,  -- raw values in the bucket
    mean   REAL,
    min    REAL,
    max    REAL,
    last,                     -- REAL or TEXT: the bucket's last value
    PRIMARY KEY (series, ts)
) WITHOUT ROWID;

-- The latest value of every attribute, upserted once per attribute per batch.
CREATE TABLE state (
    series INTEGER PRIMARY KEY REFERENCES series (id),
    num    REAL,
    txt    TEXT,
    seq    INTEGER NOT NULL,
    ts     INTEGER NOT NULL,  -- unix nanoseconds
    source TEXT NOT NULL DEFAULT ''
);

-- Every command and its outcome. ids are allocated by the store in memory so
-- a "pending" row can be written now and replaced by its outcome later.
CREATE TABLE audit (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,  -- unix nanoseconds
    principal TEXT NOT NULL,
    source    TEXT NOT NULL,
    entity    TEXT NOT NULL,
    action    TEXT NOT NULL,
    args      TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    error     TEXT NOT NULL,
    duration  INTEGER NOT NULL,  -- nanoseconds
    critical  INTEGER NOT NULL
);

CREATE INDEX audit_entity ON audit (entity, id);
CREATE INDEX audit_principal ON audit (principal, id);
