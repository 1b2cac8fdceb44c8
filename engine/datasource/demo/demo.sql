-- The bundled demo database: a small shop. Materialized to a SQLite file on first use when
-- kyuubi.engine.data.agent.jdbc.url is unset (engine/datasource/demo.py). Orders and their items
-- are generated deterministically (no randomness), so every materialization is identical.

CREATE TABLE customers (
    customer_id  INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,
    email        TEXT    NOT NULL UNIQUE,
    country      TEXT    NOT NULL,
    city         TEXT    NOT NULL,
    signup_date  DATE    NOT NULL,
    segment      TEXT    NOT NULL CHECK (segment IN ('consumer', 'business'))
);

CREATE TABLE products (
    product_id  INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    category    TEXT    NOT NULL,
    unit_price  NUMERIC(10, 2) NOT NULL,
    active      BOOLEAN NOT NULL DEFAULT 1
);

CREATE TABLE orders (
    order_id     INTEGER PRIMARY KEY,
    customer_id  INTEGER NOT NULL REFERENCES customers (customer_id),
    order_date   DATE    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('placed', 'shipped', 'delivered', 'returned', 'cancelled')),
    channel      TEXT    NOT NULL CHECK (channel IN ('web', 'mobile', 'store'))
);

CREATE TABLE order_items (
    order_id    INTEGER NOT NULL REFERENCES orders (order_id),
    line_no     INTEGER NOT NULL,
    product_id  INTEGER NOT NULL REFERENCES products (product_id),
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    unit_price  NUMERIC(10, 2) NOT NULL,
    discount    NUMERIC(4, 2) NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, line_no)
);

CREATE INDEX orders_customer ON orders (customer_id);
CREATE INDEX orders_date ON orders (order_date);
CREATE INDEX order_items_product ON order_items (product_id);

INSERT INTO customers (customer_id, name, email, country, city, signup_date, segment) VALUES
    (1, 'Ava Thompson', 'ava.thompson@example.com', 'United States', 'Seattle', '2023-01-14', 'consumer'),
    (2, 'Liam Chen', 'liam.chen@example.com', 'United States', 'Austin', '2023-02-03', 'consumer'),
    (3, 'Northwind Traders', 'orders@northwind.example.com', 'United States', 'Chicago', '2023-02-20', 'business'),
    (4, 'Sofia Rossi', 'sofia.rossi@example.it', 'Italy', 'Milan', '2023-03-11', 'consumer'),
    (5, 'Lukas Müller', 'lukas.mueller@example.de', 'Germany', 'Munich', '2023-03-29', 'consumer'),
    (6, 'Brightline GmbH', 'einkauf@brightline.example.de', 'Germany', 'Hamburg', '2023-04-05', 'business'),
    (7, 'Emma Dubois', 'emma.dubois@example.fr', 'France', 'Lyon', '2023-04-18', 'consumer'),
    (8, 'Hugo Martin', 'hugo.martin@example.fr', 'France', 'Paris', '2023-05-02', 'consumer'),
    (9, 'Yuki Tanaka', 'yuki.tanaka@example.jp', 'Japan', 'Osaka', '2023-05-21', 'consumer'),
    (10, 'Sakura Systems', 'purchasing@sakura.example.jp', 'Japan', 'Tokyo', '2023-06-07', 'business'),
    (11, 'Olivia Brown', 'olivia.brown@example.co.uk', 'United Kingdom', 'London', '2023-06-19', 'consumer'),
    (12, 'Noah Wilson', 'noah.wilson@example.co.uk', 'United Kingdom', 'Manchester', '2023-07-04', 'consumer'),
    (13, 'Maple Leaf Supply', 'ap@mapleleaf.example.ca', 'Canada', 'Toronto', '2023-07-22', 'business'),
    (14, 'Chloé Tremblay', 'chloe.tremblay@example.ca', 'Canada', 'Montreal', '2023-08-09', 'consumer'),
    (15, 'Mateo García', 'mateo.garcia@example.es', 'Spain', 'Madrid', '2023-08-27', 'consumer'),
    (16, 'Lucía Fernández', 'lucia.fernandez@example.es', 'Spain', 'Valencia', '2023-09-12', 'consumer'),
    (17, 'Isabela Souza', 'isabela.souza@example.com.br', 'Brazil', 'São Paulo', '2023-09-30', 'consumer'),
    (18, 'Rio Verde Ltda', 'compras@rioverde.example.com.br', 'Brazil', 'Rio de Janeiro', '2023-10-15', 'business'),
    (19, 'Aarav Sharma', 'aarav.sharma@example.in', 'India', 'Bengaluru', '2023-11-01', 'consumer'),
    (20, 'Priya Nair', 'priya.nair@example.in', 'India', 'Mumbai', '2023-11-19', 'consumer'),
    (21, 'Jack Taylor', 'jack.taylor@example.com.au', 'Australia', 'Sydney', '2023-12-06', 'consumer'),
    (22, 'Outback Outfitters', 'accounts@outback.example.com.au', 'Australia', 'Melbourne', '2023-12-20', 'business'),
    (23, 'Freya Nielsen', 'freya.nielsen@example.dk', 'Denmark', 'Copenhagen', '2024-01-08', 'consumer'),
    (24, 'Sven Larsson', 'sven.larsson@example.se', 'Sweden', 'Stockholm', '2024-01-25', 'consumer'),
    (25, 'Fjord Logistics AS', 'innkjop@fjord.example.no', 'Norway', 'Oslo', '2024-02-10', 'business'),
    (26, 'Mia Jansen', 'mia.jansen@example.nl', 'Netherlands', 'Amsterdam', '2024-02-28', 'consumer'),
    (27, 'Daan de Vries', 'daan.devries@example.nl', 'Netherlands', 'Utrecht', '2024-03-14', 'consumer'),
    (28, 'Zofia Kowalska', 'zofia.kowalska@example.pl', 'Poland', 'Kraków', '2024-03-31', 'consumer'),
    (29, 'Kim Min-jun', 'minjun.kim@example.kr', 'South Korea', 'Seoul', '2024-04-16', 'consumer'),
    (30, 'Han River Tech', 'buy@hanriver.example.kr', 'South Korea', 'Busan', '2024-05-03', 'business'),
    (31, 'Ethan Davis', 'ethan.davis@example.com', 'United States', 'Denver', '2024-05-20', 'consumer'),
    (32, 'Grace Lee', 'grace.lee@example.com', 'United States', 'Boston', '2024-06-06', 'consumer'),
    (33, 'Pacific Crest Inc', 'procurement@pacificcrest.example.com', 'United States', 'San Diego', '2024-06-24', 'business'),
    (34, 'Léa Bernard', 'lea.bernard@example.fr', 'France', 'Bordeaux', '2024-07-11', 'consumer'),
    (35, 'Jonas Becker', 'jonas.becker@example.de', 'Germany', 'Berlin', '2024-07-29', 'consumer'),
    (36, 'Giulia Conti', 'giulia.conti@example.it', 'Italy', 'Rome', '2024-08-15', 'consumer'),
    (37, 'Carlos Mendoza', 'carlos.mendoza@example.mx', 'Mexico', 'Guadalajara', '2024-09-02', 'consumer'),
    (38, 'Azteca Distribución', 'compras@azteca.example.mx', 'Mexico', 'Mexico City', '2024-09-19', 'business'),
    (39, 'Amelia Walker', 'amelia.walker@example.co.nz', 'New Zealand', 'Auckland', '2024-10-07', 'consumer'),
    (40, 'Thabo Nkosi', 'thabo.nkosi@example.co.za', 'South Africa', 'Cape Town', '2024-10-24', 'consumer');

INSERT INTO products (product_id, name, category, unit_price, active) VALUES
    (1, 'Trail Running Shoes', 'Footwear', 129.00, 1),
    (2, 'Leather Chelsea Boots', 'Footwear', 189.50, 1),
    (3, 'Canvas Sneakers', 'Footwear', 59.99, 1),
    (4, 'Merino Wool Sweater', 'Apparel', 94.00, 1),
    (5, 'Rain Shell Jacket', 'Apparel', 149.00, 1),
    (6, 'Organic Cotton T-Shirt', 'Apparel', 24.50, 1),
    (7, 'Denim Jeans', 'Apparel', 79.00, 1),
    (8, 'Insulated Water Bottle', 'Outdoor', 32.00, 1),
    (9, 'Two-Person Tent', 'Outdoor', 289.00, 1),
    (10, 'Down Sleeping Bag', 'Outdoor', 219.00, 1),
    (11, 'Headlamp 400 lm', 'Outdoor', 39.95, 1),
    (12, 'Daypack 24 L', 'Bags', 84.00, 1),
    (13, 'Carry-On Roller', 'Bags', 249.00, 1),
    (14, 'Leather Wallet', 'Accessories', 45.00, 1),
    (15, 'Polarized Sunglasses', 'Accessories', 119.00, 1),
    (16, 'Wool Beanie', 'Accessories', 19.99, 1),
    (17, 'Smart Fitness Watch', 'Electronics', 199.00, 1),
    (18, 'Wireless Earbuds', 'Electronics', 89.00, 1),
    (19, 'Portable Power Bank', 'Electronics', 49.00, 1),
    (20, 'Film Camera (refurbished)', 'Electronics', 159.00, 0);

-- 300 orders from 2024-01-01 on, spread over the customers; statuses and channels cycle.
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
INSERT INTO orders (order_id, customer_id, order_date, status, channel)
SELECT
    i,
    1 + ((i * 13 + i / 9) % 40),
    date('2024-01-01', '+' || ((i * 37) % 540) || ' days'),
    CASE
        WHEN i % 23 = 0 THEN 'cancelled'
        WHEN i % 17 = 0 THEN 'returned'
        WHEN (i * 37) % 540 > 500 THEN 'placed'
        WHEN (i * 37) % 540 > 470 THEN 'shipped'
        ELSE 'delivered'
    END,
    CASE i % 5 WHEN 0 THEN 'store' WHEN 1 THEN 'mobile' WHEN 3 THEN 'mobile' ELSE 'web' END
FROM n;

-- One to four lines per order (about 750 in all), at the product's list price with occasional discounts.
WITH RECURSIVE line(order_id, line_no) AS (
    SELECT order_id, 1 FROM orders
    UNION ALL
    SELECT order_id, line_no + 1 FROM line WHERE line_no < 1 + (order_id * 7) % 4
)
INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price, discount)
SELECT
    l.order_id,
    l.line_no,
    p.product_id,
    1 + (l.order_id + l.line_no * 3) % 3,
    p.unit_price,
    CASE WHEN (l.order_id + l.line_no) % 9 = 0 THEN 0.10 WHEN (l.order_id * l.line_no) % 13 = 0 THEN 0.25 ELSE 0 END
FROM line AS l
JOIN products AS p ON p.product_id = 1 + (l.order_id * 11 + l.line_no * 5) % 19;
