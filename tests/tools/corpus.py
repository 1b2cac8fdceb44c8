"""The adversarial write corpus and the legitimate-reads corpus, per database.

``{file}`` in an attack is replaced by a fresh path that must not exist afterwards. Each base
attack is tried in several spellings (:func:`variants`): as written, in mixed case, wrapped in
comments, stacked behind a harmless SELECT, and with a unicode space.
"""

from __future__ import annotations

ATTACKS: dict[str, list[str]] = {
    "pg": [
        "DELETE FROM orders",
        "UPDATE customers SET name = 'x'",
        "INSERT INTO customers VALUES (99, 'x', 'y')",
        "DROP TABLE orders",
        "CREATE TABLE evil (a int)",
        "TRUNCATE orders",
        "ALTER TABLE customers ADD COLUMN evil int",
        "MERGE INTO customers c USING orders o ON c.id = o.id WHEN MATCHED THEN DELETE",
        "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d",
        "WITH u AS (UPDATE customers SET name = 'x' RETURNING id) SELECT count(*) FROM u",
        "WITH a AS (SELECT 1) INSERT INTO customers SELECT 98, 'x', 'y' FROM a",
        "FROM customers INSERT INTO customers SELECT 97, 'x', 'y'",
        "SELECT * INTO evil FROM customers",
        "SELECT * FROM customers FOR UPDATE",
        "SELECT * FROM customers FOR SHARE",
        "EXPLAIN ANALYZE DELETE FROM orders",
        "EXPLAIN (ANALYZE, COSTS OFF) DELETE FROM orders",
        "COPY customers TO '{file}'",
        "COPY (SELECT 1) TO '{file}'",
        "SET search_path = public",
        "CALL no_such_procedure()",
        "DO $$ BEGIN DELETE FROM orders; END $$",
        "LOCK TABLE customers",
        "SELECT setval('seq', 100)",
        "SELECT nextval('seq')",
        "SELECT pg_catalog.nextval('seq')",
        "SELECT pg_terminate_backend(pg_backend_pid())",
        "SELECT pg_read_file('/etc/hostname')",
        "SELECT lo_import('/etc/hostname')",
        "SELECT * FROM dblink('dbname=test', 'DELETE FROM orders') AS r(a text)",
        "SELECT pg_advisory_lock(4242)",
        "SELECT 1 WHERE pg_notify('chan', 'x') IS NULL",
        "SELECT set_config('search_path', 'public', false)",
        "SELECT query_to_xml('DELETE FROM orders', true, true, '')",
        "SELECT U&\"\\0073etval\"('seq', 100)",
        "SELECT * FROM setval('seq', 100)",
    ],
    "mysql": [
        "DELETE FROM orders",
        "UPDATE customers SET name = 'x'",
        "INSERT INTO customers VALUES (99, 'x', 'y')",
        "REPLACE INTO customers VALUES (1, 'x', 'y')",
        "DROP TABLE orders",
        "CREATE TABLE evil (a int)",
        "TRUNCATE orders",
        "RENAME TABLE orders TO orders2",
        "WITH a AS (SELECT 1) DELETE FROM orders",
        "WITH a AS (SELECT 1) INSERT INTO customers SELECT 98, 'x', 'y' FROM a",
        "FROM customers INSERT INTO customers SELECT 97, 'x', 'y'",
        "SELECT * FROM customers INTO OUTFILE '{file}'",
        "SELECT name FROM customers LIMIT 1 INTO DUMPFILE '{file}'",
        "SELECT 1 /*! INTO OUTFILE '{file}' */",
        "SELECT 1 /*M! INTO OUTFILE '{file}' */",
        "SELECT 1 --1 INTO OUTFILE '{file}'",
        "SELECT 1 INTO @v",
        "SELECT @a := 5",
        "SELECT * FROM customers FOR UPDATE",
        "SELECT * FROM customers LOCK IN SHARE MODE",
        "EXPLAIN ANALYZE DELETE FROM orders",
        "ANALYZE DELETE FROM orders",
        "SET SESSION sql_mode = ''",
        "CALL no_such_procedure()",
        "DO GET_LOCK('dae_corpus', 1)",
        "LOCK TABLES customers WRITE",
        "HANDLER customers OPEN",
        "SELECT GET_LOCK('dae_corpus', 1)",
        "SELECT LOAD_FILE('/etc/hostname')",
        "LOAD DATA INFILE '/etc/hostname' INTO TABLE customers",
        "INSERT INTO customers SELECT id + 100, name, country FROM customers",
    ],
    "sqlite": [
        "DELETE FROM orders",
        "UPDATE customers SET name = 'x'",
        "INSERT INTO customers VALUES (99, 'x', 'y')",
        "INSERT OR REPLACE INTO customers VALUES (1, 'x', 'y')",
        "REPLACE INTO customers VALUES (1, 'x', 'y')",
        "DROP TABLE orders",
        "CREATE TABLE evil (a int)",
        "CREATE VIEW evil AS SELECT 1",
        "CREATE TRIGGER evil AFTER INSERT ON customers BEGIN DELETE FROM orders; END",
        "ALTER TABLE customers RENAME TO c2",
        "WITH a AS (SELECT 1) INSERT INTO customers SELECT 98, 'x', 'y' FROM a",
        "WITH a AS (SELECT 1) DELETE FROM orders",
        "FROM customers INSERT INTO customers SELECT 97, 'x', 'y'",
        "ATTACH DATABASE '{file}' AS evil",
        "VACUUM",
        "VACUUM INTO '{file}'",
        "PRAGMA user_version = 7",
        "PRAGMA journal_mode = WAL",
        "PRAGMA writable_schema = ON",
        "PRAGMA foreign_keys = OFF",
        "SELECT load_extension('{file}')",
        "SELECT writefile('{file}', 'x')",
        "REINDEX",
        "ANALYZE",
        "EXPLAIN DELETE FROM orders",
        "INSERT INTO customers VALUES (1, 'a', 'b') ON CONFLICT DO NOTHING",
        "SAVEPOINT a",
        "BEGIN IMMEDIATE",
    ],
}

READS: dict[str, list[str]] = {
    "common": [
        "SELECT 1",
        "SELECT c.name, COUNT(o.id) AS n, SUM(o.amount) AS total FROM customers c "
        "LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.name ORDER BY c.name",
        "SELECT id, amount, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY amount DESC) AS rn FROM orders",
        "SELECT id, SUM(amount) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM orders",
        "WITH big AS (SELECT * FROM orders WHERE amount > 10) SELECT COUNT(*) FROM big",
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 10) SELECT SUM(x) FROM n",
        "SELECT name FROM customers UNION SELECT note FROM orders WHERE note IS NOT NULL",
        "SELECT name FROM customers UNION ALL SELECT name FROM customers ORDER BY 1 LIMIT 3",
        "SELECT * FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE amount > 20)",
        "SELECT * FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)",
        "SELECT CASE WHEN country IS NULL THEN 'unknown' ELSE country END AS c, COUNT(*) FROM customers GROUP BY 1",
        "SELECT COALESCE(note, 'none'), UPPER(note), LENGTH(note) FROM orders",
        "SELECT country, COUNT(*) FROM customers GROUP BY country HAVING COUNT(*) > 1",
        "SELECT name FROM customers WHERE name LIKE 'A%' ORDER BY name DESC LIMIT 1",
        "SELECT 'DELETE FROM orders; DROP TABLE customers' AS harmless_text",
        "SELECT 1 /* INSERT INTO customers VALUES (1) */",
        "-- a leading comment\nSELECT COUNT(*) FROM orders;",
        "SELECT DISTINCT country FROM customers",
        "SELECT MIN(placed), MAX(placed) FROM orders",
        "EXPLAIN SELECT * FROM orders WHERE id = 1",
    ],
    "pg": [
        "SHOW search_path",
        "SHOW server_version",
        "EXPLAIN (FORMAT JSON) SELECT * FROM customers",
        "EXPLAIN VERBOSE SELECT * FROM orders",
        "TABLE customers",
        "VALUES (1, 'a'), (2, 'b')",
        "SELECT date_trunc('month', placed), to_char(placed, 'YYYY-MM') FROM orders",
        "SELECT amount::int, name || '!' FROM orders JOIN customers ON customers.id = orders.customer_id",
        "SELECT * FROM generate_series(1, 5)",
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()",
        "SELECT relname FROM pg_catalog.pg_class WHERE relkind = 'r' LIMIT 5",
        "SELECT string_agg(name, ', ' ORDER BY name) FROM customers",
        "SELECT $$a dollar; string$$",
        "SELECT last_value FROM seq",
        "SELECT id FROM orders ORDER BY id FETCH FIRST 2 ROWS ONLY",
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY amount) FROM orders",
    ],
    "mysql": [
        "SHOW TABLES",
        "SHOW COLUMNS FROM customers",
        "SHOW CREATE TABLE orders",
        "SHOW INDEX FROM orders",
        "DESCRIBE customers",
        "DESC orders amount",
        "EXPLAIN SELECT * FROM orders",
        "EXPLAIN FORMAT=JSON SELECT * FROM orders",
        "SELECT DATE_FORMAT(placed, '%Y-%m'), IFNULL(note, '-') FROM orders",
        "SELECT `name` FROM `customers` # a hash comment",
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
        "SELECT GROUP_CONCAT(name ORDER BY name SEPARATOR ', ') FROM customers",
        "SELECT CONCAT(name, '!'), CAST(amount AS SIGNED) FROM orders JOIN customers ON customers.id = orders.customer_id",
        "SELECT 1 -- a spaced comment",
    ],
    "sqlite": [
        "EXPLAIN QUERY PLAN SELECT * FROM orders WHERE id = 1",
        "PRAGMA table_info(customers)",
        "PRAGMA index_list('orders')",
        "PRAGMA foreign_key_list(orders)",
        "SELECT name, type FROM sqlite_master WHERE type = 'table'",
        "SELECT name FROM sqlite_master WHERE type = 'index'",
        "SELECT strftime('%Y-%m', placed), date(placed, '+1 day') FROM orders",
        "SELECT name || '!', substr(name, 1, 2), ifnull(country, '-') FROM customers",
        "SELECT group_concat(name, ', ') FROM customers",
        "VALUES (1, 'a'), (2, 'b')",
    ],
}


def mixed_case(sql: str) -> str:
    """Alternate the case of letters outside quoted strings."""
    out: list[str] = []
    quote = ""
    upper = False
    for char in sql:
        if quote:
            out.append(char)
            if char == quote:
                quote = ""
        elif char in "'\"$":
            quote = char
            out.append(char)
        elif char.isalpha():
            out.append(char.upper() if upper else char.lower())
            upper = not upper
        else:
            out.append(char)
    return "".join(out)


_SPACES = ["\u00a0", "\u2003", "\u3000", "\u2028", "\u200b", "\u0085", "\u000b", "\u000c"]


def variants(sql: str, index: int) -> list[tuple[str, str]]:
    space = _SPACES[index % len(_SPACES)]
    return [
        ("as written", sql),
        ("mixed case", mixed_case(sql)),
        ("comments", f"/* harmless */ {sql.replace(' ', ' /**/ ', 1)} -- trailing"),
        ("stacked", f"SELECT 1; {sql}"),
        (f"unicode space U+{ord(space):04X}", sql.replace(" ", space, 1)),
    ]
