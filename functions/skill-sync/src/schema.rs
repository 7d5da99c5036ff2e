//! The part of the Skill App's schema the sync writes (`assessments`, `badges`, `assertions`,
//! and `assessment_tracker`, which `assertions` refers to), as the app's MySQL 8 database has it
//! (spec §2): `utf8mb3` tables, the same keys and indexes. Created only where missing, so
//! running it against the app's real database changes nothing. SQL that MySQL 8 and MariaDB
//! both accept.

use mysql_async::prelude::*;
use mysql_async::Conn;

use crate::db::DbConfig;
use crate::Error;

/// The administrator `cargo xtask local up` creates on the local MariaDB (127.0.0.1 only), which
/// db-prepare and the tests log in as.
pub const LOCAL_ADMIN_USER: &str = "local_admin";
pub const LOCAL_ADMIN_PASSWORD: &str = "local-only-admin-password";

const TABLE_OPTIONS: &str = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb3";

/// In dependency order: a table comes after the tables its foreign keys name.
pub const TABLES: &[(&str, &str)] = &[
    (
        "assessments",
        "CREATE TABLE IF NOT EXISTS `assessments` (
  `id` INT NOT NULL AUTO_INCREMENT,
  `name` VARCHAR(250) DEFAULT NULL,
  `description` VARCHAR(250) DEFAULT NULL,
  `core_skill_areas` VARCHAR(250) DEFAULT NULL,
  `languages` VARCHAR(250) DEFAULT NULL,
  `types` VARCHAR(250) DEFAULT NULL,
  `prerequisites` VARCHAR(250) DEFAULT NULL,
  `long_description` TEXT,
  `review_required` TINYINT(1) DEFAULT NULL,
  `github_org` VARCHAR(250) DEFAULT NULL,
  `repo_prefix` VARCHAR(250) DEFAULT NULL,
  `install_id` VARCHAR(250) DEFAULT NULL,
  `template_repo` VARCHAR(250) DEFAULT NULL,
  `latest_release` VARCHAR(250) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `ix_assessments_id` (`id`),
  UNIQUE KEY `name` (`name`)
)",
    ),
    (
        "badges",
        "CREATE TABLE IF NOT EXISTS `badges` (
  `entityId` VARCHAR(250) NOT NULL,
  `entityType` VARCHAR(250) DEFAULT NULL,
  `openBadgeId` VARCHAR(250) DEFAULT NULL,
  `createdAt` DATETIME DEFAULT NULL,
  `createdBy` VARCHAR(250) DEFAULT NULL,
  `issuer` VARCHAR(250) DEFAULT NULL,
  `issuerOpenBadgeId` VARCHAR(250) DEFAULT NULL,
  `name` VARCHAR(250) DEFAULT NULL,
  `image` VARCHAR(250) DEFAULT NULL,
  `description` TEXT,
  `achievementType` VARCHAR(250) DEFAULT NULL,
  `criteriaUrl` VARCHAR(250) DEFAULT NULL,
  `criteriaNarrative` TEXT,
  `alignments` VARCHAR(250) DEFAULT NULL,
  `tags` VARCHAR(250) DEFAULT NULL,
  `expires` TEXT,
  `extensions` TEXT,
  PRIMARY KEY (`entityId`),
  UNIQUE KEY `ix_badges_entityId` (`entityId`),
  UNIQUE KEY `name` (`name`)
)",
    ),
    (
        "assessment_tracker",
        "CREATE TABLE IF NOT EXISTS `assessment_tracker` (
  `id` INT NOT NULL AUTO_INCREMENT,
  `user_id` INT DEFAULT NULL,
  `assessment_id` INT DEFAULT NULL,
  `status` VARCHAR(250) DEFAULT NULL,
  `last_updated` DATETIME DEFAULT NULL,
  `latest_commit` VARCHAR(250) NOT NULL,
  `reviewer_id` INT DEFAULT NULL,
  `repo_owner` VARCHAR(250) DEFAULT NULL,
  `repo_name` VARCHAR(250) DEFAULT NULL,
  `pr_number` INT DEFAULT NULL,
  `log` JSON NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `ix_assessment_tracker_id` (`id`),
  UNIQUE KEY `latest_commit` (`latest_commit`),
  KEY `fk_assessment_tracker_assessments` (`assessment_id`),
  CONSTRAINT `fk_assessment_tracker_assessments` FOREIGN KEY (`assessment_id`) REFERENCES `assessments` (`id`)
)",
    ),
    (
        "assertions",
        "CREATE TABLE IF NOT EXISTS `assertions` (
  `entityId` VARCHAR(250) NOT NULL,
  `entityType` VARCHAR(250) DEFAULT NULL,
  `openBadgeId` VARCHAR(250) DEFAULT NULL,
  `createdAt` DATETIME DEFAULT NULL,
  `createdBy` VARCHAR(250) DEFAULT NULL,
  `badgeclass` VARCHAR(250) DEFAULT NULL,
  `recipient_identity` VARCHAR(500) DEFAULT NULL,
  `recipient_hashed` TINYINT(1) DEFAULT NULL,
  `recipient_type` VARCHAR(250) DEFAULT NULL,
  `recipient_plaintextIdentity` VARCHAR(250) DEFAULT NULL,
  `recipient_salt` VARCHAR(250) DEFAULT NULL,
  `issuedOn` DATETIME DEFAULT NULL,
  `narrative` TEXT,
  `evidence_url` VARCHAR(250) DEFAULT NULL,
  `evidence_narrative` TEXT,
  `revoked` TINYINT(1) DEFAULT NULL,
  `revocationReason` VARCHAR(250) DEFAULT NULL,
  `acceptance` VARCHAR(250) DEFAULT NULL,
  `expires` DATETIME DEFAULT NULL,
  `share_url` TEXT,
  `linkedin_add_profile_url` TEXT,
  `twitter_share_url` TEXT,
  `facebook_share_url` TEXT,
  `linkedin_share_url` TEXT,
  `embed_card_html` TEXT,
  `embed_badge_html` TEXT,
  `assessment_tracker_id` INT DEFAULT NULL,
  PRIMARY KEY (`entityId`),
  UNIQUE KEY `ix_assertions_entityId` (`entityId`),
  KEY `fk_assertions_badges` (`badgeclass`),
  KEY `fk_assertions_assessment_tracker` (`assessment_tracker_id`),
  CONSTRAINT `fk_assertions_badges` FOREIGN KEY (`badgeclass`) REFERENCES `badges` (`entityId`),
  CONSTRAINT `fk_assertions_assessment_tracker` FOREIGN KEY (`assessment_tracker_id`) REFERENCES `assessment_tracker` (`id`)
)",
    ),
];

/// The tables of [`TABLES`] that are missing, created; one line per table.
pub async fn create_tables(conn: &mut Conn) -> Result<Vec<String>, Error> {
    let mut done = Vec::new();
    for (name, ddl) in TABLES {
        let exists: Option<i64> = conn
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
                (name,),
            )
            .await?;
        if exists.unwrap_or(0) > 0 {
            done.push(format!("table {name}: exists, left as it is"));
        } else {
            conn.query_drop(format!("{ddl} {TABLE_OPTIONS}")).await?;
            done.push(format!("table {name}: created"));
        }
    }
    Ok(done)
}

/// `[A-Za-z0-9_]+`: names that go into SQL unquoted by a driver.
fn identifier(name: &str) -> Result<&str, Error> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(name)
    } else {
        Err(Error::Schema(format!(
            "`{name}` is not a plain identifier (letters, digits, _)"
        )))
    }
}

fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// As an administrator: the database (utf8mb3, as the app's), the application login with the
/// password of its secret and only the rights the sync needs, then the tables as the app login.
/// Idempotent. For servers this project runs (the local stage); the app's RDS database already
/// has its database and login.
pub async fn prepare(admin: &DbConfig, app: &DbConfig) -> Result<Vec<String>, Error> {
    let db = identifier(&app.dbname)?;
    let user = identifier(&app.user)?;
    let mut conn = crate::db::connect(&DbConfig {
        dbname: "mysql".into(),
        ..admin.clone()
    })
    .await?;
    let password = quoted(app.password.expose());
    conn.query_drop(format!(
        "CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci"
    ))
    .await?;
    conn.query_drop(format!(
        "CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY {password}"
    ))
    .await?;
    // a changed secret takes effect on the next prepare
    conn.query_drop(format!("ALTER USER '{user}'@'%' IDENTIFIED BY {password}"))
        .await?;
    conn.query_drop(format!(
        "GRANT SELECT, INSERT, UPDATE ON `{db}`.* TO '{user}'@'%'"
    ))
    .await?;
    let mut done = vec![
        format!("database {db}: ready"),
        format!("login {user}: SELECT, INSERT, UPDATE on {db}"),
    ];
    conn.disconnect().await?;
    // tables as the administrator on the app's database (the app login cannot CREATE)
    let mut conn = crate::db::connect(&DbConfig {
        dbname: app.dbname.clone(),
        ..admin.clone()
    })
    .await?;
    done.extend(create_tables(&mut conn).await?);
    conn.disconnect().await?;
    Ok(done)
}
