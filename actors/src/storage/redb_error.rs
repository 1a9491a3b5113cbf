//! redb's error types mapped once. The chain store
//! ([`crate::execution::state::StorageError`]) and the consensus journal
//! ([`crate::storage::journal::JournalError`]) each keep redb failures in one
//! variant that carries the message; [`redb_errors_into!`] writes the `From`
//! conversions for every redb error type, so `?` works on each redb call.

/// Implements `From<E>` for `$target` for every redb error type `E`, each
/// becoming `$target::$variant(message)`.
macro_rules! redb_errors_into {
    ($target:ident :: $variant:ident) => {
        $crate::storage::redb_error::redb_errors_into!(
            @each $target::$variant;
            redb::Error,
            redb::DatabaseError,
            redb::TransactionError,
            redb::TableError,
            redb::StorageError,
            redb::CommitError,
            redb::SetDurabilityError
        );
    };
    (@each $target:ident :: $variant:ident; $($ty:ty),*) => {$(
        impl From<$ty> for $target {
            fn from(e: $ty) -> Self {
                $target::$variant(e.to_string())
            }
        }
    )*};
}
pub(crate) use redb_errors_into;
