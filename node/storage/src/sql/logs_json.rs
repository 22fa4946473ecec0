//! `eth_getLogs` answered by the database: the matching logs as the JSON array the RPC returns,
//! built by the SQL engine in one row. Logs are the largest answers a node gives (a range of
//! ten thousand blocks), and a row per log through the driver (a copy of every column, a channel
//! message, a decoded struct, a JSON tree, its serialisation) cost several times the query.
//!
//! The shape is `zknode_rpc::json::log` with `removed: false`; node/tests/rpc_eth.rs checks the
//! two agree on both databases.

use sqlx::Row;

use super::to_db;
use crate::error::{Result, StorageError};
use crate::types::LogFilter;
use crate::{Backend, StateDb};

/// The logs of a filter as a JSON array, and how many there are.
#[derive(Clone, Debug)]
pub struct LogsJson {
    pub count: u64,
    pub json: String,
}

/// SQL that writes a column as a JSON string.
type Writer = fn(&str) -> String;

/// One log's JSON object in the backend's SQL, from `logs l JOIN l2_blocks b`.
fn log_object(backend: Backend) -> String {
    // A hex string of a BYTEA/BLOB column, and a quantity of a BIGINT column.
    let (hex, qty): (Writer, Writer) = match backend {
        Backend::Sqlite => (
            |c| format!("'\"0x' || lower(hex({c})) || '\"'"),
            |c| format!("printf('\"0x%x\"', {c})"),
        ),
        Backend::Postgres => (
            |c| format!("'\"0x' || encode({c}, 'hex') || '\"'"),
            |c| format!("'\"0x' || to_hex({c}) || '\"'"),
        ),
    };
    // topicN is set only when topicN-1 is (a CHECK of the schema): a comma before each but
    // the first.
    let topics = (0..4)
        .map(|i| {
            let sep = if i == 0 { "" } else { "," };
            format!(
                "CASE WHEN l.topic{i} IS NULL THEN '' ELSE '{sep}' || {} END",
                hex(&format!("l.topic{i}"))
            )
        })
        .collect::<Vec<_>>()
        .join(" || ");
    format!(
        "'{{\"address\":' || {} || ',\"topics\":[' || {topics} || '],\"data\":' || {} \
         || ',\"blockNumber\":' || {} || ',\"blockHash\":' || {} \
         || ',\"transactionHash\":' || {} || ',\"transactionIndex\":' || {} \
         || ',\"logIndex\":' || {} || ',\"removed\":false}}'",
        hex("l.address"),
        hex("l.data"),
        qty("l.block_number"),
        hex("b.hash"),
        hex("l.tx_hash"),
        qty("l.tx_index"),
        qty("l.log_index"),
    )
}

impl StateDb {
    /// The logs that match `filter` (by block, then log index; at most `filter.limit`) as the
    /// JSON array `eth_getLogs` answers, with their count.
    pub async fn logs_json(&self, filter: &LogFilter) -> Result<LogsJson> {
        let backend = self.backend();
        let mut sql = format!(
            "SELECT {} AS j, l.block_number AS n, l.log_index AS i \
             FROM logs l JOIN l2_blocks b ON b.number = l.block_number",
            log_object(backend)
        );
        let values = super::read::log_filter_sql(filter, &mut sql)?;
        let agg = match backend {
            Backend::Sqlite => "group_concat(j, ',' ORDER BY n, i)",
            Backend::Postgres => "string_agg(j, ',' ORDER BY n, i)",
        };
        let sql = format!("SELECT COUNT(*) AS count, {agg} AS logs FROM ({sql}) AS matched");
        let mut query = sqlx::query(&sql)
            .bind(to_db("block number", filter.from_block)?)
            .bind(to_db("block number", filter.to_block)?);
        for v in values {
            query = query.bind(v);
        }
        let row = query.fetch_one(self.pool()).await?;
        let bad = |e: &dyn std::fmt::Display| {
            StorageError::corrupt("logs", "eth_getLogs answer", e.to_string())
        };
        let count: i64 = row.try_get("count").map_err(|e| bad(&e))?;
        let logs: Option<String> = row.try_get("logs").map_err(|e| bad(&e))?;
        Ok(LogsJson {
            count: u64::try_from(count).map_err(|e| bad(&e))?,
            json: format!("[{}]", logs.unwrap_or_default()),
        })
    }
}
