-- Allocation-heavy SQLite for the whole-process benchmark: run with the
-- sqlite3 shell on an in-memory database (`sqlite3 :memory: < this file`).
-- 300,000 rows made from a recursive CTE (deterministic: no random()),
-- three indexes, aggregates, a join, a window function, updates and deletes.
-- The shell prints only a few aggregate lines; their hash is the checksum.
PRAGMA cache_size = -262144;
CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT, city INTEGER, age INTEGER, score REAL, note TEXT);
CREATE TABLE cities(id INTEGER PRIMARY KEY, name TEXT, region TEXT);
WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x < 999)
INSERT INTO cities SELECT x, printf('city-%04d-%s', x, substr('abcdefghijklmnopqrstuvwxyz', 1 + x % 26, 1 + x % 7)),
                          printf('region-%d', x % 17) FROM n;
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300000)
INSERT INTO people
SELECT x,
       printf('person-%07d-%s', (x * 7919) % 1000003, substr('qwertyuiopasdfghjklzxcvbnm', 1 + x % 20, 1 + x % 6)),
       (x * 104729) % 1000,
       18 + (x * 31) % 70,
       ((x * 2654435761) % 100000) / 100.0,
       printf('%.*c', 10 + (x * 13) % 90, 'n') || x
FROM n;
CREATE INDEX people_city ON people(city);
CREATE INDEX people_name ON people(name);
CREATE INDEX people_age_score ON people(age, score);
SELECT 'count', count(*), sum(age), round(sum(score), 2), sum(length(note)) FROM people;
SELECT 'by region', c.region, count(*), round(avg(p.age), 3), round(max(p.score), 2)
  FROM people p JOIN cities c ON c.id = p.city GROUP BY c.region ORDER BY c.region LIMIT 5;
SELECT 'distinct names', count(DISTINCT substr(name, 9, 4)) FROM people;
SELECT 'top cities', group_concat(city, ',') FROM
  (SELECT city, count(*) AS n FROM people WHERE age BETWEEN 30 AND 40 GROUP BY city ORDER BY n DESC, city LIMIT 10);
SELECT 'rank', sum(r) FROM (SELECT rank() OVER (PARTITION BY city ORDER BY score DESC, id) AS r FROM people WHERE id % 3 = 0);
SELECT 'name range', count(*), min(name), max(name) FROM people WHERE name BETWEEN 'person-0100000' AND 'person-0300000';
UPDATE people SET note = note || '-updated-' || name, score = score * 1.5 WHERE age % 5 = 0;
DELETE FROM people WHERE city % 7 = 3;
CREATE TABLE summary AS
  SELECT city, age / 10 AS decade, count(*) AS n, avg(score) AS s, group_concat(substr(name, 9, 3), '') AS names
  FROM people GROUP BY city, decade;
SELECT 'summary', count(*), sum(n), round(sum(s), 2), sum(length(names)) FROM summary;
SELECT 'after', count(*), sum(length(note)), round(sum(score), 2) FROM people;
SELECT 'ordered', sum(id % 1000) FROM (SELECT id FROM people ORDER BY note, id LIMIT 100000);
