//! PostgreSQL: catalog of pg_dump archives, restore into scratch databases, connection handling.
//! Every test starts its own throwaway cluster (`pgcluster.rs`) and makes archives with the real
//! pg_dump.

use crate::cluster_or_skip;

#[test]
fn throwaway_cluster_starts_and_answers() {
    let c = cluster_or_skip!();
    assert_eq!(c.psql("postgres", "SELECT 1 + 1").trim(), "2");
}
