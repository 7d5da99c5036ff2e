//! What lives around a replicated table and must outlive its replacement by a new snapshot:
//! views and materialized views built on it (recursively, with their options, grants, owner,
//! comments and indexes), the table's own grants, comment and indexes other than the primary
//! key. Saved and dropped before the old table goes, recreated after the new one is in place,
//! in the caller's transaction (the role of `deps_save_and_drop_dependencies` /
//! `deps_restore_dependencies` in the original).

use tokio_postgres::Transaction;

use super::{literal, qualified, query_error, DbError};

#[derive(Debug, Clone, PartialEq)]
struct View {
    /// `"schema"."name"`.
    name: String,
    materialized: bool,
    options: Option<String>,
    definition: String,
    owner: String,
    extras: Extras,
}

/// Grants, comment and secondary indexes of a relation, as statements to replay.
#[derive(Debug, Clone, Default, PartialEq)]
struct Extras {
    statements: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Saved {
    /// In creation order (a view after those it reads from).
    views: Vec<View>,
    table: Extras,
}

impl Saved {
    /// `"schema"."view"` of every saved view, for the log.
    pub fn view_names(&self) -> Vec<String> {
        self.views.iter().map(|v| v.name.clone()).collect()
    }
}

/// Reads what depends on `table` (nothing when it does not exist yet) and drops its views.
pub async fn save_and_drop(
    tx: &Transaction<'_>,
    schema: &str,
    table: &str,
) -> Result<Saved, DbError> {
    let relation = qualified(schema, table);
    let exists: bool = tx
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&relation])
        .await
        .map_err(query_error(format!("looking up {table}")))?
        .get(0);
    if !exists {
        return Ok(Saved::default());
    }
    let rows = tx
        .query(
            "WITH RECURSIVE deps(oid, depth) AS (
                SELECT $1::text::regclass::oid, 0
              UNION ALL
                SELECT r.ev_class, deps.depth + 1
                FROM deps
                JOIN pg_depend d ON d.refobjid = deps.oid
                    AND d.refclassid = 'pg_class'::regclass AND d.classid = 'pg_rewrite'::regclass
                JOIN pg_rewrite r ON r.oid = d.objid
                WHERE r.ev_class <> deps.oid
            )
            SELECT format('%I.%I', n.nspname, c.relname), c.relkind = 'm',
                   array_to_string(c.reloptions, ', '), pg_get_viewdef(c.oid),
                   pg_get_userbyid(c.relowner)::text, c.oid::regclass::text
            FROM deps JOIN pg_class c ON c.oid = deps.oid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE deps.depth > 0
            GROUP BY c.oid, n.nspname, c.relname
            ORDER BY max(deps.depth), c.oid",
            &[&relation],
        )
        .await
        .map_err(query_error(format!(
            "reading the views that depend on {table}"
        )))?;
    let mut views = Vec::new();
    for row in rows {
        let name: String = row.get(0);
        let materialized: bool = row.get(1);
        let options: Option<String> = row.get(2);
        views.push(View {
            extras: extras(tx, &name, materialized, false).await?,
            name,
            materialized,
            options: options.filter(|o| !o.is_empty()),
            definition: row.get(3),
            owner: row.get(4),
        });
    }
    let saved = Saved {
        table: extras(tx, &relation, false, true).await?,
        views,
    };
    for view in saved.views.iter().rev() {
        let kind = if view.materialized {
            "MATERIALIZED VIEW"
        } else {
            "VIEW"
        };
        tx.batch_execute(&format!("DROP {kind} {}", view.name))
            .await
            .map_err(query_error(format!(
                "dropping {}, which depends on {table}, to replace {table} (the application role must own it); it is recreated after the swap",
                view.name
            )))?;
    }
    Ok(saved)
}

/// Recreates the views and replays the grants, comments and indexes after the swap.
pub async fn restore(tx: &Transaction<'_>, table: &str, saved: &Saved) -> Result<(), DbError> {
    let current_user: String = tx
        .query_one("SELECT current_user::text", &[])
        .await
        .map_err(query_error("reading the current user"))?
        .get(0);
    replay(tx, table, &saved.table).await?;
    for view in &saved.views {
        let (kind, with_data) = if view.materialized {
            ("MATERIALIZED VIEW", " WITH DATA")
        } else {
            ("VIEW", "")
        };
        let options = view
            .options
            .as_ref()
            .map(|o| format!(" WITH ({o})"))
            .unwrap_or_default();
        let definition = view.definition.trim_end().trim_end_matches(';');
        tx.batch_execute(&format!(
            "CREATE {kind} {}{options} AS {definition}{with_data}",
            view.name
        ))
        .await
        .map_err(query_error(format!(
            "recreating {} on the new {table} (does the view read a column the new snapshot no longer has?)",
            view.name
        )))?;
        if view.owner != current_user {
            tx.batch_execute(&format!(
                "ALTER {kind} {} OWNER TO {}",
                view.name,
                super::ident(&view.owner)
            ))
            .await
            .map_err(query_error(format!(
                "giving {} back to its owner {}",
                view.name, view.owner
            )))?;
        }
        replay(tx, &view.name, &view.extras).await?;
    }
    Ok(())
}

async fn replay(tx: &Transaction<'_>, what: &str, extras: &Extras) -> Result<(), DbError> {
    for statement in &extras.statements {
        tx.batch_execute(statement)
            .await
            .map_err(query_error(format!("restoring `{statement}` on {what}")))?;
    }
    Ok(())
}

/// Grants (except the owner's own), comment and, for tables and materialized views, indexes
/// other than the primary key (the swap builds that one).
async fn extras(
    tx: &Transaction<'_>,
    relation: &str,
    materialized: bool,
    table: bool,
) -> Result<Extras, DbError> {
    let context = || query_error(format!("reading the grants of {relation}"));
    let mut statements = Vec::new();
    let grants = tx
        .query(
            "SELECT a.privilege_type,
                    CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                         ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                    a.is_grantable
             FROM pg_class c, aclexplode(c.relacl) a
             WHERE c.oid = $1::text::regclass AND a.grantee <> c.relowner
             ORDER BY 2, 1",
            &[&relation],
        )
        .await
        .map_err(context())?;
    for g in grants {
        let privilege: String = g.get(0);
        let grantee: String = g.get(1);
        let option = if g.get::<_, bool>(2) {
            " WITH GRANT OPTION"
        } else {
            ""
        };
        statements.push(format!(
            // `ON TABLE` covers views and materialized views too
            "GRANT {privilege} ON TABLE {relation} TO {grantee}{option}"
        ));
    }
    let comment: Option<String> = tx
        .query_one(
            "SELECT obj_description($1::text::regclass, 'pg_class')",
            &[&relation],
        )
        .await
        .map_err(context())?
        .get(0);
    if let Some(c) = comment {
        let what = if materialized {
            "MATERIALIZED VIEW"
        } else if table {
            "TABLE"
        } else {
            "VIEW"
        };
        statements.push(format!("COMMENT ON {what} {relation} IS {}", literal(&c)));
    }
    if materialized || table {
        let indexes = tx
            .query(
                "SELECT pg_get_indexdef(i.indexrelid)
                 FROM pg_index i
                 WHERE i.indrelid = $1::text::regclass AND NOT i.indisprimary
                 ORDER BY i.indexrelid",
                &[&relation],
            )
            .await
            .map_err(context())?;
        statements.extend(indexes.iter().map(|r| r.get::<_, String>(0)));
    }
    Ok(Extras { statements })
}
