// The demo e-commerce schema: four tables that between them use most column kinds, a composite
// key, foreign keys, unique and CHECK constraints.
//
// Foreign keys are ON DELETE RESTRICT on purpose: MySQL does not fire triggers for rows removed
// by a cascade, so cascaded deletes would never reach the changelog. The workload deletes
// children explicitly.

export const DEMO_TABLES = ['customers', 'products', 'orders', 'order_items'] as const;

export const DEMO_DDL: string[] = [
  `CREATE TABLE customers (
  id BIGINT UNSIGNED NOT NULL,
  email VARCHAR(191) NOT NULL,
  first_name VARCHAR(60) NOT NULL,
  last_name VARCHAR(60) NOT NULL,
  country CHAR(2) NOT NULL,
  birth_date DATE NULL,
  loyalty_points INT NOT NULL DEFAULT 0,
  is_active BOOLEAN NOT NULL DEFAULT 1,
  marketing_opt_in BIT(1) NOT NULL DEFAULT b'0',
  preferences JSON NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_customers_email (email),
  CONSTRAINT ck_customers_points CHECK (loyalty_points >= 0),
  CONSTRAINT ck_customers_email CHECK (email LIKE '%_@_%')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE products (
  id INT UNSIGNED NOT NULL,
  sku VARCHAR(32) NOT NULL,
  name VARCHAR(200) NOT NULL,
  description TEXT NULL,
  category ENUM('books','electronics','garden','toys','grocery') NOT NULL,
  tags SET('new','sale','eco','gift') NOT NULL DEFAULT '',
  price DECIMAL(12,2) NOT NULL,
  weight_kg FLOAT NULL,
  rating DOUBLE NULL,
  stock SMALLINT NOT NULL DEFAULT 0,
  release_year YEAR NULL,
  thumbnail VARBINARY(64) NULL,
  attributes JSON NULL,
  created_at DATETIME NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_products_sku (sku),
  CONSTRAINT ck_products_price CHECK (price >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE orders (
  id BIGINT UNSIGNED NOT NULL,
  customer_id BIGINT UNSIGNED NOT NULL,
  status ENUM('pending','paid','shipped','delivered','cancelled') NOT NULL DEFAULT 'pending',
  total DECIMAL(14,2) NOT NULL DEFAULT 0,
  currency CHAR(3) NOT NULL DEFAULT 'EUR',
  placed_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  delivery_window TIME NULL,
  flags BIT(8) NOT NULL DEFAULT b'0',
  notes VARCHAR(500) NULL,
  PRIMARY KEY (id),
  KEY ix_orders_customer (customer_id),
  CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE RESTRICT,
  CONSTRAINT ck_orders_total CHECK (total >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE order_items (
  order_id BIGINT UNSIGNED NOT NULL,
  line_no SMALLINT UNSIGNED NOT NULL,
  product_id INT UNSIGNED NOT NULL,
  quantity INT NOT NULL,
  unit_price DECIMAL(12,2) NOT NULL,
  discount DECIMAL(5,4) NOT NULL DEFAULT 0,
  PRIMARY KEY (order_id, line_no),
  KEY ix_items_product (product_id),
  CONSTRAINT fk_items_order FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE RESTRICT,
  CONSTRAINT fk_items_product FOREIGN KEY (product_id) REFERENCES products (id) ON DELETE RESTRICT,
  CONSTRAINT ck_items_quantity CHECK (quantity > 0),
  CONSTRAINT ck_items_discount CHECK (discount BETWEEN 0 AND 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
];
