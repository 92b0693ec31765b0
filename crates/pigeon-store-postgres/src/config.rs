//! How to reach the database: the connection string, the schema Pigeon's tables live in, and
//! the pool size.
//!
//! The schema is set per connection through the startup `options` (`-c search_path=…`), so
//! every pooled connection, including ones opened later to replace broken ones, sees the same
//! tables without an extra round trip. That is also what lets several Pigeon installations,
//! or test runs, share one database without seeing each other.

use std::fmt;
use std::time::Duration;

use pigeon_store::StoreError;

use crate::error::backend;

/// How to open a [`PostgresStore`](crate::PostgresStore).
#[derive(Clone)]
pub struct PostgresConfig {
    /// A libpq-style connection string, as a URL (`postgres://user:password@host:5432/db`) or
    /// as `key=value` pairs (`host=… user=… dbname=…`).
    pub url: String,
    /// The schema for Pigeon's tables, created at connect if missing. Lowercase letters,
    /// digits and `_`, not starting with a digit. `None` (the default) uses the connection's
    /// own `search_path`, normally `public`.
    pub schema: Option<String>,
    /// Most connections open at once; callers wait for a free one beyond that. Default 16.
    pub max_connections: usize,
}

impl PostgresConfig {
    /// Defaults for the database at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: None,
            max_connections: 16,
        }
    }

    /// The driver's configuration: the parsed connection string, plus the schema as the
    /// search path, an application name and a connect timeout unless the string set them.
    pub(crate) fn driver_config(&self) -> Result<tokio_postgres::Config, StoreError> {
        let mut pg: tokio_postgres::Config = self.url.parse().map_err(|e| backend(&e))?;
        if let Some(schema) = &self.schema {
            check_schema_name(schema)?;
            let search_path = format!("-c search_path={schema}");
            let options = match pg.get_options() {
                Some(given) => format!("{given} {search_path}"),
                None => search_path,
            };
            pg.options(options);
        }
        if pg.get_application_name().is_none() {
            pg.application_name("pigeon");
        }
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(Duration::from_secs(10));
        }
        Ok(pg)
    }
}

/// The URL may hold a password, so it is left out.
impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("schema", &self.schema)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

/// A schema name that needs no quoting anywhere: it goes into the startup options and into
/// `CREATE SCHEMA` as is, and PostgreSQL folds unquoted names to lowercase.
pub(crate) fn check_schema_name(name: &str) -> Result<(), StoreError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && name.len() <= 63 {
        Ok(())
    } else {
        Err(StoreError::Invalid(
            "schema names are 1 to 63 of [a-z0-9_], not starting with a digit",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_need_no_quoting() {
        for ok in ["pigeon", "_p", "pigeon_test_0190abcd"] {
            assert!(check_schema_name(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(64);
        for bad in ["", "1abc", "Pigeon", "a-b", "a b", "a;drop", long.as_str()] {
            assert!(check_schema_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_schema_becomes_the_search_path() {
        let mut config =
            PostgresConfig::new("postgres://u@localhost/db?options=-c%20work_mem%3D4MB");
        config.schema = Some("pigeon".into());
        let pg = config.driver_config().unwrap();
        assert_eq!(
            pg.get_options(),
            Some("-c work_mem=4MB -c search_path=pigeon")
        );
        assert_eq!(pg.get_application_name(), Some("pigeon"));
        config.schema = Some("Bad-Name".into());
        assert!(matches!(
            config.driver_config(),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn debug_hides_the_url() {
        let config = PostgresConfig::new("postgres://u:hunter2@localhost/db");
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
