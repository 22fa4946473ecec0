//! [`crate::StateDb`]'s SQL: values to columns and back. Every read goes through [`Cells`],
//! which turns a value the schema does not allow into [`StorageError::CorruptRow`].

pub use l1_txs::{L1TxInsert, L1TxMined, L1TxRecord, L1TxStatus, NewL1Tx};
pub use logs_json::LogsJson;
pub use sequences::{SequenceRecord, SequenceStatus};

mod l1_sync;
mod l1_txs;
mod logs_json;
mod pool;
mod read;
mod sequences;
mod write;

use alloy_primitives::{Address, Bytes, B256, U256};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{Result, StorageError};
use crate::types::BatchStatus;

/// A number as the database stores it: refused from 2^63 on.
pub(crate) fn to_db(what: &'static str, n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| StorageError::OutOfRange {
        what,
        value: n.to_string(),
    })
}

/// A 256-bit number as the database stores it: refused from 2^63 on.
pub(crate) fn u256_to_db(what: &'static str, n: U256) -> Result<i64> {
    i64::try_from(n).map_err(|_| StorageError::OutOfRange {
        what,
        value: n.to_string(),
    })
}

/// The columns of one row, read with the table and key that an error names.
pub(crate) struct Cells<'r> {
    row: &'r AnyRow,
    table: &'static str,
    key: String,
}

impl<'r> Cells<'r> {
    pub(crate) fn new(row: &'r AnyRow, table: &'static str, key: impl ToString) -> Self {
        Cells {
            row,
            table,
            key: key.to_string(),
        }
    }

    fn bad(&self, col: &str, problem: impl std::fmt::Display) -> StorageError {
        StorageError::corrupt(self.table, &self.key, format!("column {col}: {problem}"))
    }

    fn get<T>(&self, col: &str) -> Result<T>
    where
        T: for<'a> sqlx::Decode<'a, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        self.row.try_get(col).map_err(|e| self.bad(col, e))
    }

    pub(crate) fn get_i64(&self, col: &str) -> Result<i64> {
        self.get(col)
    }

    pub(crate) fn u64(&self, col: &str) -> Result<u64> {
        let v: i64 = self.get(col)?;
        u64::try_from(v).map_err(|_| self.bad(col, format!("negative ({v})")))
    }

    pub(crate) fn opt_u64(&self, col: &str) -> Result<Option<u64>> {
        let v: Option<i64> = self.get(col)?;
        v.map(|v| u64::try_from(v).map_err(|_| self.bad(col, format!("negative ({v})"))))
            .transpose()
    }

    pub(crate) fn u8(&self, col: &str) -> Result<u8> {
        let v: i64 = self.get(col)?;
        u8::try_from(v).map_err(|_| self.bad(col, format!("{v} is not a byte")))
    }

    pub(crate) fn flag(&self, col: &str) -> Result<bool> {
        match self.get::<i64>(col)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(self.bad(col, format!("{v} is neither 0 nor 1"))),
        }
    }

    pub(crate) fn bytes(&self, col: &str) -> Result<Bytes> {
        let v: Vec<u8> = self.get(col)?;
        Ok(v.into())
    }

    pub(crate) fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>> {
        self.get(col)
    }

    pub(crate) fn b256(&self, col: &str) -> Result<B256> {
        let v: Vec<u8> = self.get(col)?;
        self.fixed(col, &v)
    }

    pub(crate) fn opt_b256(&self, col: &str) -> Result<Option<B256>> {
        self.opt_bytes(col)?
            .map(|v| self.fixed(col, &v))
            .transpose()
    }

    pub(crate) fn address(&self, col: &str) -> Result<Address> {
        let v: Vec<u8> = self.get(col)?;
        self.fixed(col, &v)
    }

    pub(crate) fn opt_address(&self, col: &str) -> Result<Option<Address>> {
        self.opt_bytes(col)?
            .map(|v| self.fixed(col, &v))
            .transpose()
    }

    fn fixed<T: for<'a> TryFrom<&'a [u8]>>(&self, col: &str, v: &[u8]) -> Result<T> {
        T::try_from(v).map_err(|_| {
            self.bad(
                col,
                format!(
                    "{} bytes where {} belong",
                    v.len(),
                    std::mem::size_of::<T>()
                ),
            )
        })
    }

    pub(crate) fn u256(&self, col: &str) -> Result<U256> {
        Ok(U256::from(self.u64(col)?))
    }

    pub(crate) fn string(&self, col: &str) -> Result<String> {
        self.get(col)
    }

    pub(crate) fn opt_string(&self, col: &str) -> Result<Option<String>> {
        self.get(col)
    }

    pub(crate) fn status(&self, col: &str) -> Result<BatchStatus> {
        let s = self.string(col)?;
        s.parse().map_err(|e: String| self.bad(col, e))
    }

    pub(crate) fn key(&self) -> &str {
        &self.key
    }
}

/// Whether an error is a UNIQUE or PRIMARY KEY violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}
