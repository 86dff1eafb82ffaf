//! Account administration, shared by `redfolder admin …` and the `/api/v1/admin` routes:
//! organisations, users, passwords, disabling users and revoking devices. Every action
//! is audited.
//!
//! An administrator ([`Role::Admin`]) acts only within their own organisation: they
//! create its users, reset their passwords, disable them and revoke their devices, and
//! the users of other organisations are as if they did not exist. Only a deployment
//! administrator ([`Role::DeploymentAdmin`]) or the command line (whoever can run it can
//! read the database anyway) creates organisations, acts in any organisation, or gives
//! or touches the deployment administrator role.

use crate::audit::{AuditEvent, action, purpose};
use crate::auth::{hash_password, new_password};
use crate::domain::{OrganisationKind, Principal, Role, User, now_ms};
use crate::store::{Device, NewOrganisation, NewUser, Organisation, Store};

/// Why an administrative action failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The operator may not do this at all (not merely to this one user).
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Who performs an action: a signed-in administrator, or the command line (whoever can
/// run it can read the database anyway).
#[derive(Debug, Clone, Copy)]
pub enum Operator<'a> {
    Api(&'a Principal),
    Cli,
}

impl Operator<'_> {
    /// The organisation this operator's actions are confined to; `None` for the whole
    /// deployment.
    fn confined_to(&self) -> Option<&str> {
        match self {
            Operator::Api(principal) if !principal.user.has(Role::DeploymentAdmin) => {
                Some(&principal.user.organisation_id)
            }
            _ => None,
        }
    }

    fn deployment_wide(&self) -> bool {
        self.confined_to().is_none()
    }

    /// Refuses what only a deployment-wide operator may do.
    fn require_deployment(&self, what: &str) -> Result<(), AdminError> {
        if self.deployment_wide() {
            Ok(())
        } else {
            Err(AdminError::Forbidden(format!(
                "only a deployment administrator may {what}"
            )))
        }
    }

    /// Whether this operator may manage `user`: one of their own organisation's users,
    /// and not a deployment administrator, unless the operator acts deployment-wide.
    fn may_manage(&self, user: &User) -> bool {
        match self.confined_to() {
            None => true,
            Some(org) => user.organisation_id == org && !user.has(Role::DeploymentAdmin),
        }
    }

    fn event(&self, subject: &str, detail: String) -> AuditEvent {
        let event = AuditEvent::new(now_ms(), action::ADMIN, purpose::ADMINISTRATION, "ok")
            .subject(subject)
            .detail(detail);
        match self {
            Operator::Api(principal) => {
                let role = if principal.user.has(Role::DeploymentAdmin) {
                    Role::DeploymentAdmin
                } else {
                    Role::Admin
                };
                event.by(principal, role)
            }
            Operator::Cli => AuditEvent {
                username: Some("cli".to_owned()),
                role: Some(Role::Admin.as_str().to_owned()),
                ..event
            },
        }
    }
}

/// The longest and shortest passwords accepted.
const PASSWORD_LENGTH: std::ops::RangeInclusive<usize> = 10..=256;

fn check_username(username: &str) -> Result<(), AdminError> {
    let ok = (3..=64).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(AdminError::Invalid(
            "a username is 3–64 characters of a–z, 0–9, '.', '_' or '-'".to_owned(),
        ))
    }
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), AdminError> {
    if value.trim().is_empty() || value.chars().count() > max {
        return Err(AdminError::Invalid(format!(
            "{field} is required and at most {max} characters"
        )));
    }
    Ok(())
}

async fn password_hash(password: Option<String>) -> Result<(String, Option<String>), AdminError> {
    let (password, generated) = match password {
        Some(p) => {
            if !PASSWORD_LENGTH.contains(&p.chars().count()) {
                return Err(AdminError::Invalid(format!(
                    "a password is {} to {} characters",
                    PASSWORD_LENGTH.start(),
                    PASSWORD_LENGTH.end()
                )));
            }
            (p, None)
        }
        None => {
            let p = new_password();
            (p.clone(), Some(p))
        }
    };
    let hash = crate::auth::bounded_hashing(move || hash_password(&password))
        .await
        .map_err(|e| anyhow::anyhow!("password hashing: {e}"))??;
    Ok((hash, generated))
}

pub async fn create_organisation(
    store: &Store,
    by: Operator<'_>,
    code: &str,
    name: &str,
    kind: &str,
) -> Result<Organisation, AdminError> {
    by.require_deployment("create organisations")?;
    let kind = OrganisationKind::parse(kind).ok_or_else(|| {
        let kinds: Vec<&str> = OrganisationKind::ALL.iter().map(|k| k.as_str()).collect();
        AdminError::Invalid(format!("kind must be one of {}", kinds.join(", ")))
    })?;
    check_text("code", code, 32)?;
    check_text("name", name, 200)?;
    let created = store
        .create_organisation(&NewOrganisation { code, name, kind })
        .await?;
    if created.is_none() {
        return Err(AdminError::Conflict(format!(
            "an organisation with code {code} exists already"
        )));
    }
    let org = store
        .organisation_by_code(code)
        .await?
        .ok_or_else(|| anyhow::anyhow!("a new organisation is missing"))?;
    store
        .record_audit(&[by.event(
            code,
            format!("create organisation {code} ({})", kind.as_str()),
        )])
        .await?;
    Ok(org)
}

/// Creates a user. Without a password one is generated and returned (once).
pub async fn create_user(
    store: &Store,
    by: Operator<'_>,
    username: &str,
    name: &str,
    organisation: &str,
    roles: &[String],
    password: Option<String>,
) -> Result<(User, Option<String>), AdminError> {
    check_username(username)?;
    check_text("name", name, 200)?;
    let mut parsed = Vec::new();
    for role in roles {
        let role = Role::parse(role).ok_or_else(|| {
            let all: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            AdminError::Invalid(format!("unknown role {role:?}: use {}", all.join(", ")))
        })?;
        parsed.push(role);
    }
    if parsed.is_empty() {
        return Err(AdminError::Invalid(
            "a user needs at least one role".to_owned(),
        ));
    }
    if parsed.contains(&Role::DeploymentAdmin) {
        by.require_deployment("give the deployment_admin role")?;
    }
    let org = match store.organisation_by_code(organisation).await? {
        Some(org) => org,
        None => store
            .organisation_by_id(organisation)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no organisation {organisation}")))?,
    };
    if let Some(own) = by.confined_to()
        && own != org.id
    {
        return Err(AdminError::Forbidden(
            "an administrator creates users only in their own organisation".to_owned(),
        ));
    }
    let (hash, generated) = password_hash(password).await?;
    let role_names: Vec<&str> = parsed.iter().map(|r| r.as_str()).collect();
    let event = by.event(
        username,
        format!(
            "create user {username} at {} with roles {}",
            org.code,
            role_names.join(",")
        ),
    );
    let created = store
        .create_user(
            &NewUser {
                username,
                name,
                roles: &parsed,
                organisation_id: &org.id,
                password_hash: &hash,
            },
            now_ms(),
            &[event],
        )
        .await?;
    if created.is_none() {
        return Err(AdminError::Conflict(format!(
            "the username {username} is taken"
        )));
    }
    let user = store
        .user_by_username(username)
        .await?
        .ok_or_else(|| anyhow::anyhow!("a new user is missing"))?;
    Ok((user, generated))
}

/// A user the operator may manage. Another organisation's user is answered exactly as
/// a missing one, so an administrator learns nothing of other organisations' accounts.
async fn existing_user(
    store: &Store,
    by: Operator<'_>,
    username: &str,
) -> Result<User, AdminError> {
    store
        .user_by_username(username)
        .await?
        .filter(|user| by.may_manage(user))
        .ok_or_else(|| AdminError::NotFound(not_yours(by, "user", username)))
}

fn not_yours(by: Operator<'_>, what: &str, name: &str) -> String {
    if by.deployment_wide() {
        format!("no {what} {name}")
    } else {
        format!("no {what} {name} in your organisation")
    }
}

/// Sets a new password (generated and returned if none is given) and signs the user out
/// everywhere.
pub async fn reset_password(
    store: &Store,
    by: Operator<'_>,
    username: &str,
    password: Option<String>,
) -> Result<Option<String>, AdminError> {
    let user = existing_user(store, by, username).await?;
    let (hash, generated) = password_hash(password).await?;
    let event = by.event(username, format!("reset the password of {username}"));
    store
        .set_password(&user.id, &hash, now_ms(), &[event])
        .await?;
    Ok(generated)
}

/// Disables a user: no more sign-ins, and their devices are told to erase their data.
pub async fn disable_user(
    store: &Store,
    by: Operator<'_>,
    username: &str,
) -> Result<(), AdminError> {
    let user = existing_user(store, by, username).await?;
    // An administrator who disabled their own account would be signed out mid-task and,
    // if the last one of their organisation, leave it with nobody to undo it.
    if let Operator::Api(principal) = by
        && principal.user.id == user.id
    {
        return Err(AdminError::Conflict(
            "you cannot disable your own account: another administrator must".to_owned(),
        ));
    }
    let event = by.event(username, format!("disable user {username}"));
    store.disable_user(&user.id, now_ms(), &[event]).await?;
    Ok(())
}

/// Revokes a device: its tokens stop working and its next connection is told to erase
/// its local data.
pub async fn revoke_device(
    store: &Store,
    by: Operator<'_>,
    device_id: &str,
) -> Result<Device, AdminError> {
    let owner = match store.device(device_id).await? {
        Some(device) => store.user_by_id(&device.user_id).await?,
        None => None,
    };
    if !owner.is_some_and(|user| by.may_manage(&user)) {
        return Err(AdminError::NotFound(not_yours(by, "device", device_id)));
    }
    let event = by.event(device_id, format!("revoke device {device_id}"));
    if !store.revoke_device(device_id, now_ms(), &[event]).await? {
        return Err(AdminError::NotFound(format!("no device {device_id}")));
    }
    Ok(store
        .device(device_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("a revoked device is missing"))?)
}

pub async fn devices(
    store: &Store,
    by: Operator<'_>,
    username: &str,
) -> Result<Vec<Device>, AdminError> {
    let user = existing_user(store, by, username).await?;
    Ok(store.devices_of(&user.id).await?)
}

/// Makes a new summary signing key the active one; the old one is retired but stays
/// published so summaries it signed can still be checked. Servers sign with the new key
/// from their next start.
pub async fn rotate_signing_key(
    store: &Store,
    by: Operator<'_>,
) -> Result<crate::store::StoredSigningKey, AdminError> {
    let key = crate::signing::generate(now_ms());
    store.rotate_signing_key(&key).await?;
    store
        .record_audit(&[by.event(
            &key.key_id,
            format!("rotate summary signing key to {}", key.key_id),
        )])
        .await?;
    Ok(key)
}
