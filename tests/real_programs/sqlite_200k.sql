-- The real-program suite's sqlite3 workload: a 200,000-row table in an
-- in-memory database, built with a recursive CTE, then aggregates, a join,
-- window functions and ORDER BYs. Every result is deterministic.
.bail on
.headers on
.mode list
PRAGMA cache_size = -65536;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER NOT NULL, grp TEXT NOT NULL, v TEXT NOT NULL, r REAL NOT NULL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)
INSERT INTO t(id, k, grp, v, r)
  SELECT x, (x * 7919) % 1000, char(65 + x % 26) || char(65 + (x / 26) % 26),
         printf('row-%06d-%s', x, hex(x * x)), (x % 977) / 7.0
  FROM c;
SELECT count(*) AS n, sum(k) AS sum_k, min(v) AS min_v, max(v) AS max_v,
       total(length(v)) AS total_len, printf('%.6f', avg(r)) AS avg_r FROM t;
SELECT grp, count(*) AS n, sum(k) AS sum_k, printf('%.3f', sum(r)) AS sum_r
  FROM t GROUP BY grp ORDER BY sum_k DESC, grp LIMIT 8;
CREATE INDEX t_k ON t(k);
CREATE TABLE names(k INTEGER PRIMARY KEY, name TEXT);
WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < 999)
INSERT INTO names SELECT x, 'name-' || printf('%04X', x * 37) FROM c;
SELECT names.name, count(*) AS n, max(t.v) AS max_v
  FROM t JOIN names USING (k) WHERE t.k BETWEEN 100 AND 110
  GROUP BY t.k ORDER BY t.k;
SELECT id, v FROM t WHERE k = 17 ORDER BY v DESC LIMIT 3;
SELECT v FROM t ORDER BY substr(v, 12), id LIMIT 5;
SELECT id, k, rank() OVER (PARTITION BY grp ORDER BY k DESC, id) AS rk,
       sum(k) OVER (ORDER BY id ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS moving
  FROM t WHERE id % 20000 = 7 ORDER BY id;
SELECT count(DISTINCT v), count(DISTINCT k), count(DISTINCT substr(v, 1, 8)) FROM t;
DELETE FROM t WHERE id % 3 = 0;
UPDATE t SET v = v || '-updated' WHERE id % 5 = 1;
SELECT count(*), sum(length(v)), max(rowid) FROM t;
PRAGMA integrity_check;
