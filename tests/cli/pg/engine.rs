//! The PostgreSQL engine through the library: scans in exactly `Value` order, the documented type
//! mapping, bound values written back through `WriteTxn`, and check queries answered as on
//! SQLite. (The contract both engines keep, case by case: `contract.rs`.)

use lastgood::engine::{self, Access, Location, Scan};
use lastgood::value::Value;

use super::*;
use crate::cluster_or_skip;

/// The engine streams rows in exactly `Value` order, maps types as documented, and writes bound
/// values of every mapped type back through `WriteTxn`.
#[test]
fn engine_scans_in_value_order_and_writes_bound_values() {
    let c = cluster_or_skip!();
    c.create_db("shop");
    c.psql(
        "shop",
        r#"CREATE TABLE "Order Items"(k text PRIMARY KEY, n int4, amount numeric(10,2), f float8, ok bool, b bytea, "select" date);
           INSERT INTO "Order Items" VALUES ('b', 1, 1.50, 0.1, true, '\x00ff', '2026-11-24'),
             ('B', 2, NULL, NULL, false, NULL, NULL), ('a', 3, 10.00, -1e300, NULL, '\x', '1999-01-01'),
             ('é', 4, 2.00, 2, true, NULL, NULL), ('Z', 5, 3, 3, false, NULL, NULL);
           CREATE TABLE nums(d date PRIMARY KEY, v int8);
           INSERT INTO nums VALUES ('2026-01-10', 1), ('2026-01-09', 2), ('1999-12-31', 3);"#,
    );
    let mut db = engine::open(&Location::parse(&c.url("shop")), Access::ReadWrite).unwrap();
    assert_eq!(db.tables().unwrap(), ["Order Items", "nums"]);
    let schema = db.table_schema("Order Items").unwrap();
    assert_eq!(schema.primary_key, ["k"]);
    assert_eq!(schema.columns[6].name, "select");
    let cols: Vec<String> = schema.columns.iter().map(|c| c.name.clone()).collect();
    let mut rows = Vec::new();
    db.scan(
        &Scan { table: "Order Items".into(), columns: cols.clone(), order_by: vec!["k".into()], filter: None },
        &mut |r| {
            rows.push(r);
            Ok(())
        },
    )
    .unwrap();
    // The batch path (binary COPY) yields exactly the same rows, in the same order.
    let mut batched = Vec::new();
    db.scan_batches(
        &Scan {
            table: "Order Items".into(),
            columns: cols.clone(),
            order_by: vec!["k".into()],
            filter: Some("n > 2".into()),
        },
        64,
        &mut |b| {
            for r in 0..b.rows() {
                batched.push(b.row(r, b.width()));
            }
            Ok(lastgood::rows::Batch::new(b.width()))
        },
    )
    .unwrap();
    let with_filter: Vec<Vec<Value>> = rows
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let n = if let Value::Integer(n) = r[1] { n } else { 0 };
            r.push(Value::Integer(i64::from(n > 2)));
            r
        })
        .collect();
    assert_eq!(batched, with_filter);
    let keys: Vec<Value> = rows.iter().map(|r| r[0].clone()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "scan order is Value order");
    assert_eq!(keys[0], Value::Text("B".into()));
    let b = rows.iter().find(|r| r[0] == Value::Text("b".into())).unwrap();
    assert_eq!(
        b[1..],
        [
            Value::Integer(1),
            Value::Text("1.50".into()),
            Value::Real(0.1),
            Value::Integer(1),
            Value::Blob(vec![0, 255]),
            Value::Text("2026-11-24".into())
        ]
    );
    let mut dates = Vec::new();
    db.scan(
        &Scan { table: "nums".into(), columns: vec!["d".into()], order_by: vec!["d".into()], filter: None },
        &mut |r| {
            dates.push(r[0].clone());
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(dates[0], Value::Text("1999-12-31".into()));

    let mut tx = db.begin_write().unwrap();
    let n = tx
        .execute(
            r#"INSERT INTO "Order Items"(k, n, amount, f, ok, b, "select") VALUES (?, ?, ?, ?, ?, ?, ?)"#,
            &[
                Value::Text("x'); DROP TABLE nums; --".into()),
                Value::Integer(9),
                Value::Text("7.25".into()),
                Value::Real(1.5),
                Value::Integer(0),
                Value::Blob(vec![1, 2, 3]),
                Value::Text("2026-02-03".into()),
            ],
        )
        .unwrap();
    assert_eq!(n, 1);
    let mut got = Vec::new();
    tx.query(r#"SELECT amount, b, "select", ok FROM "Order Items" WHERE n = ?1"#, &[Value::Integer(9)], &mut |r| {
        got.push(r);
        Ok(())
    })
    .unwrap();
    tx.commit().unwrap();
    assert_eq!(
        got,
        [vec![
            Value::Text("7.25".into()),
            Value::Blob(vec![1, 2, 3]),
            Value::Text("2026-02-03".into()),
            Value::Integer(0)
        ]]
    );
    assert_eq!(db.row_count("nums").unwrap(), 3, "the injected text stayed a value");
}

#[test]
fn one_value_answers_alike_on_both_engines() {
    use lastgood::engine::{self, Access, Location, QueryProblem};
    use lastgood::value::Value;
    let c = cluster_or_skip!();
    make_shop(&c, 3);
    let dir = tempdir();
    let file = dir.path().join("shop.db");
    sqlite3(
        &file,
        "CREATE TABLE orders(id INTEGER PRIMARY KEY, amount REAL); INSERT INTO orders VALUES (1, 1.5), (2, 3.0), (3, 4.5);",
    );
    for loc in [Location::Sqlite(file.clone()), Location::Postgres(c.url("shop"))] {
        let mut db = engine::open(&loc, Access::ReadOnly).unwrap();
        let mut one = |sql: &str| db.one_value(sql).unwrap();
        assert_eq!(one("SELECT count(*) FROM orders"), Ok(Value::Integer(3)), "{loc:?}");
        assert_eq!(one("SELECT sum(amount) FROM orders"), Ok(Value::Real(9.0)), "{loc:?}");
        assert_eq!(one("SELECT count(*) = 3 FROM orders"), Ok(Value::Integer(1)), "{loc:?}");
        assert_eq!(one("SELECT 1, 2"), Err(QueryProblem::Columns(2)), "{loc:?}");
        assert_eq!(one("SELECT id FROM orders"), Err(QueryProblem::SeveralRows), "{loc:?}");
        assert_eq!(one("SELECT id FROM orders WHERE id > 10"), Err(QueryProblem::NoRow), "{loc:?}");
        assert!(matches!(one("SELECT count(*) FROM nosuch"), Err(QueryProblem::MissingObject(_))), "{loc:?}");
        assert!(matches!(one("SELECT nosuch FROM orders"), Err(QueryProblem::MissingObject(_))), "{loc:?}");
        assert!(matches!(one("SELEKT 1"), Err(QueryProblem::NotSql(_))), "{loc:?}");
        assert_eq!(one("DELETE FROM orders RETURNING id"), Err(QueryProblem::Writes), "{loc:?}");
    }
    assert_eq!(c.psql("shop", "SELECT count(*) FROM orders").trim(), "3", "nothing was deleted");
    assert_eq!(rows(&file, "orders").len(), 3);
}
