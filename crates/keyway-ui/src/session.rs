//! Who may use the page: the holder of the access token printed at start (as notebook servers
//! do). Opening the tokened URL starts a session (an HttpOnly, SameSite=Strict cookie) and
//! drops the token from the address bar; every other request without a session gets 401. Each
//! session has its own CSRF token, which every state-changing form carries.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// The session cookie's name.
pub const COOKIE: &str = "keyway_ui";

/// How long a session lasts without a request.
const IDLE: Duration = Duration::from_secs(12 * 3600);

/// At most this many sessions at once (each opening of the tokened URL makes one); the oldest
/// goes first.
const MAX_SESSIONS: usize = 64;

/// A random value, 32 bytes as lowercase hex, from the operating system's generator.
pub(crate) fn random_token() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    // The system generator fails only when the OS has none; nothing can run without it.
    aws_lc_rs::rand::fill(bytes.as_mut()).expect("the operating system's random generator");
    Zeroizing::new(hex::encode(bytes.as_ref()))
}

/// Compares two secrets in time independent of where they differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

/// A started session, as the handlers see it.
#[derive(Clone)]
pub struct Session {
    id: Zeroizing<String>,
    csrf: Zeroizing<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session(<redacted>)")
    }
}

impl Session {
    /// The token this session's forms carry in their `csrf` field.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Whether `given` (a form's `csrf` field) is this session's token.
    pub fn csrf_ok(&self, given: Option<&str>) -> bool {
        given.is_some_and(|g| same_secret(g, &self.csrf))
    }

    /// `Ok` when `given` (a form's `csrf` field) is this session's token, else
    /// [`crate::UiError::Forbidden`]: every state-changing handler starts with it.
    pub fn require_csrf(&self, given: Option<&str>) -> Result<(), crate::UiError> {
        if self.csrf_ok(given) {
            Ok(())
        } else {
            Err(crate::UiError::Forbidden)
        }
    }

    /// An identifier of the session that is not its cookie (uploads are kept per session).
    pub(crate) fn key(&self) -> &str {
        &self.csrf
    }
}

struct Entry {
    session: Session,
    last_used: Instant,
}

/// The access token and the sessions it started.
pub struct Sessions {
    access_token: Zeroizing<String>,
    sessions: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

impl Sessions {
    /// Sessions behind a new random access token.
    pub fn new() -> Sessions {
        Sessions {
            access_token: random_token(),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// The access token, for the URL printed at start. Never log it.
    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    /// Starts a session when `token` is the access token; returns the cookie's value.
    pub(crate) fn start(&self, token: &str) -> Option<Zeroizing<String>> {
        if !same_secret(token, &self.access_token) {
            return None;
        }
        let id = random_token();
        let session = Session {
            id: id.clone(),
            csrf: random_token(),
        };
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, e| e.last_used.elapsed() < IDLE);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            id.to_string(),
            Entry {
                session,
                last_used: Instant::now(),
            },
        );
        Some(id)
    }

    /// The session whose cookie is `cookie`, if it is live.
    pub(crate) fn find(&self, cookie: &str) -> Option<Session> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let entry = sessions.get_mut(cookie)?;
        // The map lookup is by value; compare once more in constant time for the record.
        if !same_secret(cookie, &entry.session.id) || entry.last_used.elapsed() >= IDLE {
            return None;
        }
        entry.last_used = Instant::now();
        Some(entry.session.clone())
    }
}

impl Default for Sessions {
    fn default() -> Sessions {
        Sessions::new()
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub(crate) fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// The value of query parameter `name` (tokens are hex: no decoding needed).
pub(crate) fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then_some(v)
    })
}

/// `query` without parameter `name`.
pub(crate) fn query_without(query: &str, name: &str) -> String {
    query
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(name))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_access_token_starts_a_session_and_each_has_its_own_csrf_token() {
        let sessions = Sessions::new();
        assert!(sessions.start("wrong").is_none());
        assert!(sessions.start("").is_none());
        let a = sessions.start(sessions.access_token()).unwrap();
        let b = sessions.start(sessions.access_token()).unwrap();
        assert_ne!(*a, *b);
        let (sa, sb) = (sessions.find(&a).unwrap(), sessions.find(&b).unwrap());
        assert_ne!(sa.csrf(), sb.csrf());
        assert!(sa.csrf_ok(Some(sa.csrf())));
        assert!(!sa.csrf_ok(Some(sb.csrf())));
        assert!(!sa.csrf_ok(None));
        assert!(sessions.find("not-a-session").is_none());
        assert!(sessions.find(sessions.access_token()).is_none());
        assert_eq!(format!("{sa:?}"), "Session(<redacted>)");
    }

    #[test]
    fn cookies_and_query_parameters_are_read_by_exact_name() {
        assert_eq!(cookie_value("a=1; keyway_ui=abc; b=2", COOKIE), Some("abc"));
        assert_eq!(cookie_value("xkeyway_ui=abc", COOKIE), None);
        assert_eq!(query_value("store=trust&token=t1", "token"), Some("t1"));
        assert_eq!(
            query_without("store=trust&token=t1", "token"),
            "store=trust"
        );
        assert_eq!(query_without("token=t1", "token"), "");
    }
}
