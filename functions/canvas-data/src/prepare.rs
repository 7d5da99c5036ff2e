//! The database side of a stage, set up idempotently from an administrator's session: the
//! application's login role (password from its secret, kept in step with it), its database,
//! its schema and grants, and a read-only login for consumers whose `SELECT` reaches every table
//! the application creates later (default privileges), so a re-init needs no re-grant.
//! `cargo xtask db-prepare` and `local up` run this.

use crate::db::{self, ident, literal, query_error, DbConfig, DbError};

/// What was done, one line each, for the operator.
pub async fn prepare(
    admin: &DbConfig,
    app: &DbConfig,
    schema: &str,
) -> Result<Vec<String>, DbError> {
    prepare_with_reader(admin, app, None, schema).await
}

/// [`prepare`], plus the consumers' read-only login when `reader` is given.
pub async fn prepare_with_reader(
    admin: &DbConfig,
    app: &DbConfig,
    reader: Option<&DbConfig>,
    schema: &str,
) -> Result<Vec<String>, DbError> {
    let mut done = Vec::new();
    let server = db::connect(admin).await?;
    let c = &server.client;
    let role = ident(&app.user);
    done.push(login_role(c, app).await?);
    if let Some(reader) = reader {
        done.push(login_role(c, reader).await?);
    }
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
    done.push(format!(
        "schema {}.{schema}: owned by {}, grants in place",
        app.dbname, app.user
    ));
    if let Some(reader) = reader {
        let r = ident(&reader.user);
        database
            .client
            .batch_execute(&format!(
                "GRANT CONNECT ON DATABASE {d} TO {r};
                 GRANT USAGE ON SCHEMA {s} TO {r};
                 GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {r};
                 ALTER DEFAULT PRIVILEGES FOR ROLE {role} IN SCHEMA {s} GRANT SELECT ON TABLES TO {r};",
                s = ident(schema),
                d = ident(&app.dbname),
            ))
            .await
            .map_err(query_error(format!(
                "granting {} read access to schema {schema}",
                reader.user
            )))?;
        done.push(format!(
            "role {}: reads every table of {schema}, present and future",
            reader.user
        ));
    }
    database.close().await;
    Ok(done)
}

/// Creates the login role, or sets its password from the secret when it exists.
async fn login_role(c: &tokio_postgres::Client, login: &DbConfig) -> Result<String, DbError> {
    let exists = c
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&login.user])
        .await
        .map_err(query_error(format!("looking up role {}", login.user)))?
        .is_some();
    let verb = if exists { "ALTER" } else { "CREATE" };
    // DDL takes no parameters: the password goes in as a quoted literal and is never logged here
    c.batch_execute(&format!(
        "{verb} ROLE {} WITH LOGIN PASSWORD {}",
        ident(&login.user),
        literal(login.password.expose())
    ))
    .await
    .map_err(query_error(format!(
        "{} role {}",
        verb.to_lowercase(),
        login.user
    )))?;
    Ok(if exists {
        format!("role {}: password set from the secret", login.user)
    } else {
        format!("role {}: created", login.user)
    })
}
