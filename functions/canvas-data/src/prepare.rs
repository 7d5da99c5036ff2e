//! The database side of a stage, set up idempotently from an administrator's session: the
//! application's login role (password from its secret, kept in step with it), its database,
//! its schema and grants. `cargo xtask db-prepare` and `local up` run this.

use crate::db::{self, ident, literal, query_error, DbConfig, DbError};

/// What was done, one line each, for the operator.
pub async fn prepare(
    admin: &DbConfig,
    app: &DbConfig,
    schema: &str,
) -> Result<Vec<String>, DbError> {
    let mut done = Vec::new();
    let server = db::connect(admin).await?;
    let c = &server.client;
    let role = ident(&app.user);
    let exists = c
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&app.user])
        .await
        .map_err(query_error("looking up the application role"))?
        .is_some();
    let verb = if exists { "ALTER" } else { "CREATE" };
    // DDL takes no parameters: the password goes in as a quoted literal and is never logged here
    c.batch_execute(&format!(
        "{verb} ROLE {role} WITH LOGIN PASSWORD {}",
        literal(app.password.expose())
    ))
    .await
    .map_err(query_error(format!(
        "{} role {}",
        verb.to_lowercase(),
        app.user
    )))?;
    done.push(if exists {
        format!("role {}: password set from the secret", app.user)
    } else {
        format!("role {}: created", app.user)
    });
    let superuser: bool = c
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .map_err(query_error("checking the administrator's privileges"))?
        .get(0);
    if !superuser {
        // RDS's master user is not a superuser: it needs membership to hand the schema over
        c.batch_execute(&format!("GRANT {role} TO CURRENT_USER"))
            .await
            .map_err(query_error(format!(
                "granting {} to the administrator",
                app.user
            )))?;
    }
    let has_db = c
        .query_opt(
            "SELECT 1 FROM pg_database WHERE datname = $1",
            &[&app.dbname],
        )
        .await
        .map_err(query_error("looking up the database"))?
        .is_some();
    if !has_db {
        c.batch_execute(&format!("CREATE DATABASE {}", ident(&app.dbname)))
            .await
            .map_err(query_error(format!("creating database {}", app.dbname)))?;
        done.push(format!("database {}: created", app.dbname));
    } else {
        done.push(format!("database {}: exists", app.dbname));
    }
    server.close().await;

    let database = db::connect(&admin.with_dbname(&app.dbname)).await?;
    database
        .client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {s} AUTHORIZATION {role};
             GRANT CONNECT, TEMPORARY ON DATABASE {d} TO {role};
             GRANT USAGE, CREATE ON SCHEMA {s} TO {role};",
            s = ident(schema),
            d = ident(&app.dbname),
        ))
        .await
        .map_err(query_error(format!(
            "creating schema {schema} and its grants"
        )))?;
    database.close().await;
    done.push(format!(
        "schema {}.{schema}: owned by {}, grants in place",
        app.dbname, app.user
    ));
    Ok(done)
}
