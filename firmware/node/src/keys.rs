//! The device's keys and what they may do (protocol version 2's signed requests, see
//! `rack_protocol::auth`).
//!
//! Each key has an id, a role and a secret, and remembers the last counter it signed with: a
//! request is carried out only with a MAC that verifies under the key it names, a counter
//! above that key's last, and a role at least the one the request needs. The MAC is checked
//! before anything else is believed, so a sender without a key learns nothing but "refused".
//! Keys and counters are kept in the settings store ([`crate::settings`]) within a second of
//! each accepted write: only a frame accepted in the second before a reset could be replayed
//! once after it.

use rack_protocol::auth::{Auth, FULL_MAC_SIZE, SECRET_SIZE};
use rack_protocol::types::{AuthRefusal, KeyRole};

use rack_protocol::message::SetKey;

use crate::settings::BodyWriter;

/// Keys a device holds.
pub const MAX_KEYS: usize = 8;

include!(concat!(env!("OUT_DIR"), "/build_keys.rs"));

/// One key.
#[derive(Clone, PartialEq, Eq)]
struct Entry {
    id: u16,
    role: KeyRole,
    secret: [u8; SECRET_SIZE],
    last_counter: Option<u64>,
}

/// Why a key could not be installed or revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Key id 0 means "no key" in events; ids are 1 ..= 65535.
    ReservedId,
    /// The store holds [`MAX_KEYS`] keys already.
    Full,
    /// No key with that id.
    NoSuchKey,
    /// Revoking the last maintenance key would leave nobody able to change keys or modes.
    LastMaintenanceKey,
}

/// Computes the HMAC-SHA256 of a signed request (`rack_protocol::auth`) under a key's
/// secret: in the image ([`in_image_mac`]), or by a service the board offers (its bootloader,
/// whose flash is not the image's 64 KiB). `None` when it cannot (a board whose service is
/// missing): the request is refused as `BadMac`, never let through.
pub type MacFn = fn(&[u8; SECRET_SIZE], &[u8]) -> Option<[u8; FULL_MAC_SIZE]>;

/// The MAC computed in the image (`rack_protocol::auth::hmac_sha256`).
#[cfg(not(feature = "provided-mac"))]
pub fn in_image_mac(secret: &[u8; SECRET_SIZE], signed: &[u8]) -> Option<[u8; FULL_MAC_SIZE]> {
    Some(rack_protocol::auth::hmac_sha256(secret, signed))
}

/// With `provided-mac`, until the board gives its MAC ([`KeyStore::set_mac`]): none, so every
/// signed request is refused.
#[cfg(feature = "provided-mac")]
fn no_mac(_: &[u8; SECRET_SIZE], _: &[u8]) -> Option<[u8; FULL_MAC_SIZE]> {
    None
}

/// The device's keys.
#[derive(Clone)]
pub struct KeyStore {
    keys: heapless::Vec<Entry, MAX_KEYS>,
    mac: MacFn,
}

impl Default for KeyStore {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Ids and roles only: never a secret.
        f.debug_list()
            .entries(self.keys.iter().map(|k| (k.id, k.role)))
            .finish()
    }
}

impl KeyStore {
    /// No keys: nothing that changes the device is accepted.
    pub const fn new() -> Self {
        Self {
            keys: heapless::Vec::new(),
            #[cfg(not(feature = "provided-mac"))]
            mac: in_image_mac,
            #[cfg(feature = "provided-mac")]
            mac: no_mac,
        }
    }

    /// Has the MAC computed by `mac` (a board's service) instead of in the image.
    pub fn set_mac(&mut self, mac: MacFn) {
        self.mac = mac;
    }

    /// Installs a key, or replaces the one with the same id (its counter starts afresh).
    pub fn install(
        &mut self,
        id: u16,
        role: KeyRole,
        secret: [u8; SECRET_SIZE],
    ) -> Result<(), KeyError> {
        if id == 0 {
            return Err(KeyError::ReservedId);
        }
        let entry = Entry {
            id,
            role,
            secret,
            last_counter: None,
        };
        if let Some(k) = self.keys.iter_mut().find(|k| k.id == id) {
            *k = entry;
            Ok(())
        } else {
            self.keys.push(entry).map_err(|_| KeyError::Full)
        }
    }

    /// Revokes a key; the last maintenance key cannot be revoked.
    pub fn revoke(&mut self, id: u16) -> Result<(), KeyError> {
        let at = self
            .keys
            .iter()
            .position(|k| k.id == id)
            .ok_or(KeyError::NoSuchKey)?;
        let maintenance = self
            .keys
            .iter()
            .filter(|k| k.role == KeyRole::Maintenance)
            .count();
        if self
            .keys
            .get(at)
            .is_some_and(|k| k.role == KeyRole::Maintenance)
            && maintenance == 1
        {
            return Err(KeyError::LastMaintenanceKey);
        }
        rack_control::alarm::remove_in_order(&mut self.keys, at);
        Ok(())
    }

    /// Installs the keys the image was built with ([`BUILD_KEYS`]: the file `RACKLOOP_KEYS`
    /// named at build time, else the repository's development keys); a board calls this at
    /// start. Keys beyond the store's room are left out, and counted in the result.
    pub fn install_build_keys(&mut self) -> usize {
        BUILD_KEYS
            .iter()
            .filter(|(id, role, secret)| self.install(*id, *role, *secret).is_err())
            .count()
    }

    /// Writes every key, with its last counter, into a settings body.
    pub fn write_kept(&self, body: &mut BodyWriter<'_>) -> Option<()> {
        for k in &self.keys {
            let key = SetKey {
                key_id: k.id,
                role: k.role,
                secret: k.secret,
            };
            body.key(&key, k.last_counter)?;
        }
        Some(())
    }

    /// Forgets every key (before the kept ones are restored).
    pub fn clear(&mut self) {
        self.keys.clear();
    }

    /// Restores a kept key with its last counter.
    pub fn restore(&mut self, key: &SetKey, last_counter: Option<u64>) {
        if self.install(key.key_id, key.role, key.secret).is_ok()
            && let Some(entry) = self.keys.iter_mut().find(|k| k.id == key.key_id)
        {
            entry.last_counter = last_counter;
        }
    }

    /// Checks a request's authentication for a request that needs `needed`; on success the
    /// key's counter moves to the request's and the key id is returned.
    pub fn authorize(&mut self, auth: Option<&Auth>, needed: KeyRole) -> Result<u16, AuthRefusal> {
        let auth = auth.ok_or(AuthRefusal::MissingMac)?;
        let mac = self.mac;
        let key = self
            .keys
            .iter_mut()
            .find(|k| k.id == auth.key_id)
            .ok_or(AuthRefusal::UnknownKey)?;
        if !mac(&key.secret, auth.signed()).is_some_and(|full| auth.matches(&full)) {
            return Err(AuthRefusal::BadMac);
        }
        if key.last_counter.is_some_and(|last| auth.counter <= last) {
            return Err(AuthRefusal::Replayed);
        }
        // A genuine, fresh frame: its counter is spent whether or not its role suffices.
        key.last_counter = Some(auth.counter);
        if key.role < needed {
            return Err(AuthRefusal::RoleTooLow { needed });
        }
        Ok(key.id)
    }
}
