//! The actor: who is doing something, through which channel, and what that lets them see.

use super::error::{AppError, AppResult};
use sqlx::AnyConnection;
use steward_core::{Capability, Channel, Role};
use steward_store::accounts;
use steward_store::tickets::Scope;

#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: i64,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub organization_id: Option<i64>,
    /// Whether the actor's organisation lets members see each other's tickets.
    pub organization_wide: bool,
    pub team_ids: Vec<i64>,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    pub channel: Channel,
}

impl Actor {
    /// Loads an active user as an actor; a disabled or unknown user is not an actor.
    pub async fn load(
        conn: &mut AnyConnection,
        user_id: i64,
        channel: Channel,
    ) -> AppResult<Actor> {
        let user = accounts::get_user(conn, user_id)
            .await?
            .filter(|u| u.active)
            .ok_or(AppError::Unauthenticated)?;
        let role: Role = user.role.parse().map_err(|_| AppError::Unauthenticated)?;
        let organization_wide = match user.organization_id {
            Some(o) => accounts::get_org(conn, o)
                .await?
                .is_some_and(|o| o.members_see_each_other),
            None => false,
        };
        let team_ids = accounts::user_team_ids(conn, user_id).await?;
        Ok(Actor {
            user_id,
            name: user.name,
            email: user.email,
            role,
            organization_id: user.organization_id,
            organization_wide,
            team_ids,
            locale: user.locale,
            time_zone: user.time_zone,
            channel,
        })
    }

    /// The system itself (demo data, migrations); sees everything.
    pub fn system(channel: Channel) -> Actor {
        Actor {
            user_id: 0,
            name: "system".into(),
            email: String::new(),
            role: Role::Admin,
            organization_id: None,
            organization_wide: false,
            team_ids: vec![],
            locale: None,
            time_zone: None,
            channel,
        }
    }

    pub fn can(&self, cap: Capability) -> bool {
        self.role.can(cap)
    }

    pub fn require(&self, cap: Capability) -> AppResult<()> {
        if self.can(cap) {
            Ok(())
        } else {
            Err(AppError::forbidden("your role does not allow this"))
        }
    }

    pub fn ticket_scope(&self) -> Scope {
        if self.can(Capability::SeeAllTickets) {
            Scope::All
        } else if self.can(Capability::WorkTickets) {
            Scope::Staff {
                user_id: self.user_id,
                team_ids: self.team_ids.clone(),
            }
        } else {
            Scope::Requester {
                user_id: self.user_id,
                organization_id: self.organization_id,
                organization_wide: self.organization_wide,
            }
        }
    }

    /// The ticket if this actor may see it; otherwise it does not exist for them (404). Staff
    /// paged onto a major incident's emergency team see that incident whatever their teams.
    pub async fn visible_ticket(
        &self,
        conn: &mut AnyConnection,
        id: i64,
    ) -> AppResult<steward_store::tickets::Ticket> {
        if let Some(t) = steward_store::tickets::get(conn, &self.ticket_scope(), id).await? {
            return Ok(t);
        }
        if self.can(Capability::WorkTickets)
            && steward_store::major::is_paged(conn, id, self.user_id).await?
        {
            if let Some(t) = steward_store::tickets::get(conn, &Scope::All, id).await? {
                return Ok(t);
            }
        }
        Err(AppError::NotFound)
    }

    /// The audit log's actor id; the system has none.
    pub fn audit_id(&self) -> Option<i64> {
        (self.user_id != 0).then_some(self.user_id)
    }
}
