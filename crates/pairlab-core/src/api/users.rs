//! User accounts of a shared server (see `crate::users`).

use crate::users::{self, Role, User};
use crate::{Library, Result};

impl Library {
    /// Adds a user; returns their token, shown this once.
    pub fn add_user(&self, name: &str, role: Role) -> Result<String> {
        users::add(self.conn(), name, role)
    }

    pub fn users(&self) -> Result<Vec<User>> {
        users::list(self.conn())
    }

    pub fn revoke_user(&self, name: &str) -> Result<()> {
        users::revoke(self.conn(), name)
    }

    /// Whether any user account is active (a server then requires their tokens).
    pub fn accounts_active(&self) -> Result<bool> {
        users::any_active(self.conn())
    }

    /// The active user holding `token`.
    pub fn authenticate(&self, token: &str) -> Result<Option<User>> {
        users::authenticate(self.conn(), token)
    }
}
