-- Sample "shop" database for demos and tests. Deterministic: the same rows on every load.
-- Every personal value is fictitious: example.com addresses, 555-01xx phone numbers, and card
-- numbers from payment-network test ranges (Luhn-valid, never issued).

CREATE TABLE customers (
  id          serial PRIMARY KEY,
  name        text NOT NULL,
  email       text NOT NULL UNIQUE,
  ssn         text,
  phone       text,
  card_number text,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
  id    serial PRIMARY KEY,
  name  text NOT NULL,
  price numeric(10,2) NOT NULL
);

CREATE TABLE orders (
  id          serial PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES customers(id),
  total       numeric(10,2) NOT NULL,
  status      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX orders_customer_id_idx ON orders(customer_id);

CREATE VIEW customer_contacts AS
  SELECT id, name, email FROM customers;

INSERT INTO customers (id, name, email, ssn, phone, card_number, created_at) VALUES
  (1, 'Ada Lovelace', 'ada.lovelace@example.com', '138-63-8919', '+1-555-0101', '4111111001047292', '2023-02-08 05:13:00+00'),
  (2, 'Alan Turing', 'alan.turing@example.com', '175-27-7839', '+1-555-0102', '5555551002094589', '2023-03-15 10:26:00+00'),
  (3, 'Grace Hopper', 'grace.hopper@example.com', '212-80-6759', '+1-555-0103', '4012881003141877', '2023-04-22 15:39:00+00'),
  (4, 'Edsger Dijkstra', 'edsger.dijkstra@example.com', '249-44-5679', '+1-555-0104', '2223001000316286', '2023-05-01 20:52:00+00'),
  (5, 'Barbara Liskov', 'barbara.liskov@example.com', '286-97-4599', '+1-555-0105', '6011111005236459', '2023-06-08 01:05:00+00'),
  (6, 'Donald Knuth', 'donald.knuth@example.com', '323-61-3519', '+1-555-0106', '4111111006283744', '2023-07-15 06:18:00+00'),
  (7, 'Margaret Hamilton', 'margaret.hamilton@example.com', '360-25-2439', '+1-555-0107', '5555551007331036', '2023-08-22 11:31:00+00'),
  (8, 'Dennis Ritchie', 'dennis.ritchie@example.com', '397-78-1359', '+1-555-0108', '4012881008378326', '2023-09-01 16:44:00+00'),
  (9, 'Ken Thompson', 'ken.thompson@example.com', '434-42-9278', '+1-555-0109', '2223001000711635', '2023-10-08 21:57:00+00'),
  (10, 'Frances Allen', 'frances.allen@example.com', '471-95-8198', '+1-555-0110', '6011111010472909', '2023-11-15 02:10:00+00'),
  (11, 'John McCarthy', 'john.mccarthy@example.com', '508-59-7118', '+1-555-0111', '4111111011520197', '2023-12-22 07:23:00+00'),
  (12, 'Radia Perlman', 'radia.perlman@example.com', '545-23-6038', '+1-555-0112', '5555551012567483', '2023-01-01 12:36:00+00'),
  (13, 'Tim Berners-Lee', 'tim.bernerslee@example.com', '582-76-4958', '+1-555-0113', '4012881013614772', '2023-02-08 17:49:00+00'),
  (14, 'Katherine Johnson', 'katherine.johnson@example.com', '619-40-3878', '+1-555-0114', '2223001001106983', '2023-03-15 22:02:00+00'),
  (15, 'Claude Shannon', 'claude.shannon@example.com', '656-93-2798', '+1-555-0115', '6011111015709354', '2023-04-22 03:15:00+00'),
  (16, 'Hedy Lamarr', 'hedy.lamarr@example.com', '133-57-1718', '+1-555-0116', '4111111016756648', '2023-05-01 08:28:00+00'),
  (17, 'Linus Torvalds', 'linus.torvalds@example.com', '170-21-9637', '+1-555-0117', '5555551017803933', '2023-06-08 13:41:00+00'),
  (18, 'Shafi Goldwasser', 'shafi.goldwasser@example.com', '207-74-8557', '+1-555-0118', '4012881018851221', '2023-07-15 18:54:00+00'),
  (19, 'Niklaus Wirth', 'niklaus.wirth@example.com', '244-38-7477', '+1-555-0119', '2223001001502330', '2023-08-22 23:07:00+00'),
  (20, 'Jean Bartik', 'jean.bartik@example.com', '281-91-6397', '+1-555-0120', '6011111020945803', '2023-09-01 04:20:00+00'),
  (21, 'Leslie Lamport', 'leslie.lamport@example.com', '318-55-5317', '+1-555-0121', '4111111021993095', '2023-10-08 09:33:00+00'),
  (22, 'Annie Easley', 'annie.easley@example.com', '355-19-4237', '+1-555-0122', '5555551023040389', '2023-11-15 14:46:00+00'),
  (23, 'Bjarne Stroustrup', 'bjarne.stroustrup@example.com', '392-72-3157', '+1-555-0123', '4012881024087679', '2023-12-22 19:59:00+00'),
  (24, 'Sophie Wilson', 'sophie.wilson@example.com', '429-36-2077', '+1-555-0124', '2223001001897680', '2023-01-01 00:12:00+00'),
  (25, 'Guido van Rossum', 'guido.van.rossum@example.com', '466-89-9996', '+1-555-0125', '6011111026182252', '2023-02-08 05:25:00+00'),
  (26, 'Adele Goldberg', 'adele.goldberg@example.com', '503-53-8916', '+1-555-0126', '4111111027229544', '2023-03-15 10:38:00+00'),
  (27, 'James Gosling', 'james.gosling@example.com', '540-17-7836', '+1-555-0127', '5555551028276830', '2023-04-22 15:51:00+00'),
  (28, 'Evelyn Boyd', 'evelyn.boyd@example.com', '577-70-6756', '+1-555-0128', '4012881029324127', '2023-05-01 20:04:00+00'),
  (29, 'Vint Cerf', 'vint.cerf@example.com', '614-34-5676', '+1-555-0129', '2223001002293038', '2023-06-08 01:17:00+00'),
  (30, 'Mary Kenneth Keller', 'mary.kenneth.keller@example.com', '651-87-4596', '+1-555-0130', '6011111031418709', '2023-07-15 06:30:00+00'),
  (31, 'Bob Kahn', 'bob.kahn@example.com', '128-51-3516', '+1-555-0131', '4111111032465992', '2023-08-22 11:43:00+00'),
  (32, 'Karen Sparck Jones', 'karen.sparck.jones@example.com', '165-15-2436', '+1-555-0132', '5555551033513284', '2023-09-01 16:56:00+00'),
  (33, 'Ivan Sutherland', 'ivan.sutherland@example.com', '202-68-1356', '+1-555-0133', '4012881034560574', '2023-10-08 21:09:00+00'),
  (34, 'Anita Borg', 'anita.borg@example.com', '239-32-9275', '+1-555-0134', '2223001002688385', '2023-11-15 02:22:00+00'),
  (35, 'Butler Lampson', 'butler.lampson@example.com', '276-85-8195', '+1-555-0135', '6011111036655156', '2023-12-22 07:35:00+00'),
  (36, 'Carol Shaw', 'carol.shaw@example.com', '313-49-7115', '+1-555-0136', '4111111037702449', '2023-01-01 12:48:00+00'),
  (37, 'Robin Milner', 'robin.milner@example.com', '350-13-6035', '+1-555-0137', '5555551038749735', '2023-02-08 17:01:00+00'),
  (38, 'Lynn Conway', 'lynn.conway@example.com', '387-66-4955', '+1-555-0138', '4012881039797023', '2023-03-15 22:14:00+00'),
  (39, 'Tony Hoare', 'tony.hoare@example.com', '424-30-3875', '+1-555-0139', '2223001003083735', '2023-04-22 03:27:00+00'),
  (40, 'Elizabeth Feinler', 'elizabeth.feinler@example.com', '461-83-2795', '+1-555-0140', '6011111041891606', '2023-05-01 08:40:00+00'),
  (41, 'John Backus', 'john.backus@example.com', '498-47-1715', '+1-555-0141', '4111111042938897', '2023-06-08 13:53:00+00'),
  (42, 'Joan Clarke', 'joan.clarke@example.com', '535-11-9634', '+1-555-0142', '5555551043986181', '2023-07-15 18:06:00+00'),
  (43, 'Michael Stonebraker', 'michael.stonebraker@example.com', '572-64-8554', '+1-555-0143', '4012881045033470', '2023-08-22 23:19:00+00'),
  (44, 'Jean Sammet', 'jean.sammet@example.com', '609-28-7474', '+1-555-0144', '2223001003479081', '2023-09-01 04:32:00+00'),
  (45, 'Charles Babbage', 'charles.babbage@example.com', '646-81-6394', '+1-555-0145', '6011111047128052', '2023-10-08 09:45:00+00'),
  (46, 'Ida Rhodes', 'ida.rhodes@example.com', '123-45-5314', '+1-555-0146', '4111111048175346', '2023-11-15 14:58:00+00'),
  (47, 'Yukihiro Matsumoto', 'yukihiro.matsumoto@example.com', '160-98-4234', '+1-555-0147', '5555551049222631', '2023-12-22 19:11:00+00'),
  (48, 'Kathleen Booth', 'kathleen.booth@example.com', '197-62-3154', '+1-555-0148', '4012881050269928', '2023-01-01 00:24:00+00'),
  (49, 'Whitfield Diffie', 'whitfield.diffie@example.com', '234-26-2074', '+1-555-0149', '2223001003874430', '2023-02-08 05:37:00+00'),
  (50, 'Betty Holberton', 'betty.holberton@example.com', '271-79-9993', '+1-555-0150', '6011111052364501', '2023-03-15 10:50:00+00');

INSERT INTO products (id, name, price) VALUES
  (1, 'Mechanical keyboard', 129.00),
  (2, 'Wireless mouse', 39.90),
  (3, '27-inch monitor', 319.00),
  (4, 'USB-C dock', 189.50),
  (5, 'Laptop stand', 49.00),
  (6, 'Noise-cancelling headphones', 249.99),
  (7, 'Webcam 1080p', 79.00),
  (8, 'Desk lamp', 34.95),
  (9, 'Ergonomic chair', 459.00),
  (10, 'Standing desk', 689.00);

-- 200 orders spread over customers, amounts and statuses by fixed arithmetic, not random().
INSERT INTO orders (id, customer_id, total, status, created_at)
SELECT g,
       1 + (g * 37) % 50,
       round(5 + ((g * 7919) % 50000) / 100.0, 2),
       (ARRAY['pending', 'paid', 'shipped', 'delivered', 'refunded'])[1 + (g * 13) % 5],
       timestamptz '2024-01-01 00:00:00+00' + g * interval '9 hours 17 minutes'
FROM generate_series(1, 200) AS g;

SELECT setval('customers_id_seq', (SELECT max(id) FROM customers));
SELECT setval('products_id_seq', (SELECT max(id) FROM products));
SELECT setval('orders_id_seq', (SELECT max(id) FROM orders));
