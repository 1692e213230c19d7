-- A schema with the cases that break database copies. Written for cutover's
-- tests; PostgreSQL 14+ (numeric ±Infinity).
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE SCHEMA "Odd Schema";
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TYPE pair AS (a integer, b text);
CREATE TYPE floatrange AS RANGE (subtype = float8);

CREATE TABLE everything (
    id bigint PRIMARY KEY,
    m mood,
    p posint,
    c pair,
    arr integer[],
    tarr text[],
    r int4range,
    fr floatrange,
    j jsonb,
    n numeric,
    f8 double precision,
    f4 real,
    ts timestamp,
    tstz timestamptz,
    d date,
    iv interval,
    b bytea,
    t text,
    u uuid,
    g integer GENERATED ALWAYS AS (id * 2) STORED,
    CHECK (p IS NULL OR p < 1000000)
);
INSERT INTO everything (id, m, p, c, arr, tarr, r, fr, j, n, f8, f4, ts, tstz, d, iv, b, t, u) VALUES
 (1, 'happy', 5, ROW(1, 'x,y'), '{1,2,NULL}', '{"a b","c\"d",NULL}', '[1,10)', '[0.5,1.5)', '{"k": [1, 2.50, null]}', 'NaN', 'NaN', '-Infinity',
  'infinity', '-infinity', 'infinity', '1 year 2 mons -3 days', '\x00ff00', E'tab\there\nnewline\\backslash', gen_random_uuid()),
 (2, 'sad', NULL, ROW(NULL, NULL), '{}', '{}', 'empty', NULL, 'null', 'Infinity', '-0', '-0', '1999-12-31 23:59:59.999999',
  '2000-01-01 00:00:00+14', '-infinity', '-178000000 years', '', '', NULL),
 (3, NULL, 999999, NULL, NULL, NULL, NULL, NULL, '[]', '-Infinity', 'Infinity', 'NaN', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, 'ok', 1, ROW(2, ''), '{{1,2},{3,4}}', '{""}', '(,)', '(,3]', '"string"', '1.50', 1.5, 0.1, '0001-01-01 00:00:00', '1970-01-01 00:00:00+00',
  '4713-11-24 BC', '0', '\x', E'\\x00 not bytea', '00000000-0000-0000-0000-000000000000'),
 (5, 'happy', 2, ROW(3, E'q"uote\'s'), '{5}', '{"NULL"}', '[5,6]', '[1e300,Infinity)', '{"deep": {"a": {"b": {"c": "é ü 中文 🎉"}}}}',
  '123456789012345678901234567890.123456789', 2.2250738585072014e-308, 3.4028235e38, '2024-02-29 12:00:00', '2024-02-29 12:00:00-08',
  '2024-02-29', '-1 day +02:03:04.5', decode(repeat('00', 100), 'hex'), repeat('ünïcödé ', 10), NULL);
-- a value over 1 MB in text and in bytea
INSERT INTO everything (id, t, b) VALUES (6, repeat('0123456789abcdef', 70000), decode(repeat('00ff', 600000), 'hex'));

CREATE TABLE "Odd Schema"."Mixed Case Table" (
    "Id" integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "Column With Spaces" text,
    "UPPER" varchar(10) UNIQUE,
    "select" integer DEFAULT 42
);
INSERT INTO "Odd Schema"."Mixed Case Table" ("Column With Spaces", "UPPER") SELECT 'row ' || i, 'u' || i FROM generate_series(1, 50) i;

CREATE TABLE "AO_60DB71_SPRINT" ("ID" bigint PRIMARY KEY, "NAME" varchar(255), "CLOSED" boolean);
CREATE SEQUENCE "AO_60DB71_SPRINT_ID_seq" OWNED BY "AO_60DB71_SPRINT"."ID";
ALTER TABLE "AO_60DB71_SPRINT" ALTER "ID" SET DEFAULT nextval('"AO_60DB71_SPRINT_ID_seq"');
INSERT INTO "AO_60DB71_SPRINT" ("NAME", "CLOSED") SELECT 'Sprint ' || i, i % 2 = 0 FROM generate_series(1, 30) i;

-- Jira's numeric(18,0) ids, big enough to be split into chunks by the tests
CREATE TABLE jiraissue (id numeric(18,0) PRIMARY KEY, pkey varchar(255), summary text, created timestamptz, votes numeric(18,0));
INSERT INTO jiraissue SELECT 10000 + i, 'TEST-' || i, md5(i::text) || repeat(' words', i % 20), '2020-01-01'::timestamptz + i * interval '1 hour', i % 7
FROM generate_series(1, 20000) i;
CREATE INDEX issue_pkey_idx ON jiraissue (pkey);
CREATE TABLE jiraaction (id numeric(18,0) PRIMARY KEY, issueid numeric(18,0) REFERENCES jiraissue(id), actionbody text);
INSERT INTO jiraaction SELECT i, 10000 + (i % 20000) + 1, 'comment ' || i FROM generate_series(1, 20000) i;
CREATE INDEX action_issue ON jiraaction (issueid);

-- no key at all, with duplicate rows: split on pages
CREATE TABLE nokey (a integer, b text);
INSERT INTO nokey SELECT i % 100, repeat('x', i % 50) FROM generate_series(1, 20000) i;
INSERT INTO nokey SELECT 1, 'dup' FROM generate_series(1, 5);

-- partitioned, and inheritance
CREATE TABLE events (id bigint, at date NOT NULL, what text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO events SELECT i, '2023-01-01'::date + (i % 700), 'e' || i FROM generate_series(1, 3000) i;
CREATE INDEX events_what ON events (what);
CREATE TABLE animal (id integer PRIMARY KEY, name text);
CREATE TABLE dog (breed text) INHERITS (animal);
INSERT INTO animal VALUES (1, 'generic');
INSERT INTO dog VALUES (2, 'rex', 'collie'), (3, 'fido', 'pug');

-- a table without columns that still has rows
CREATE TABLE nocols ();
INSERT INTO nocols SELECT FROM generate_series(1, 3);

-- views, a materialized view, a trigger, row-level security, comments
CREATE VIEW issue_titles AS SELECT id, pkey FROM jiraissue;
CREATE MATERIALIZED VIEW issue_votes AS SELECT votes, count(*) AS n FROM jiraissue GROUP BY votes;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- a comment line inside a function body must survive the copy
  NEW.summary := coalesce(NEW.summary, '');
  RETURN NEW;
END $$;
CREATE TRIGGER issue_touch BEFORE INSERT ON jiraissue FOR EACH ROW EXECUTE FUNCTION touch();
ALTER TABLE "AO_60DB71_SPRINT" ENABLE ROW LEVEL SECURITY;
CREATE POLICY sprint_open ON "AO_60DB71_SPRINT" USING (NOT "CLOSED");
COMMENT ON TABLE jiraissue IS 'issues; with ''quotes''';
COMMENT ON COLUMN "Odd Schema"."Mixed Case Table"."Column With Spaces" IS 'spaces';
ANALYZE;
