//! Following a vault's `nextLink` only where it is safe: on the vault's own origin (the SDK
//! sends the bearer token to whatever the link names), never twice to the same link (a link
//! to itself would loop forever), and at most [`MAX_PAGES`] pages.

use std::collections::HashSet;

use azure_core::http::Url;

use crate::error::{SourceFailure, SyncError};

/// The most pages one listing follows: 10,000 pages of 25 = 250,000 secrets, far beyond any
/// vault (Key Vault's own guidance stops at 25,000 objects per vault for performance).
pub const MAX_PAGES: usize = 10_000;

/// A listing's page that may point at the next one.
pub trait NextLink {
    /// The `nextLink` of this page, when there is one.
    fn next_link(&self) -> Option<&str>;
}

impl NextLink for azure_security_keyvault_secrets::models::ListSecretPropertiesResult {
    fn next_link(&self) -> Option<&str> {
        self.next_link.as_deref()
    }
}

impl NextLink for azure_security_keyvault_keys::models::ListKeyPropertiesResult {
    fn next_link(&self) -> Option<&str> {
        self.next_link.as_deref()
    }
}

/// Checks each page's `nextLink` before the pager follows it.
#[derive(Debug)]
pub struct PageGuard {
    vault: Url,
    seen: HashSet<String>,
    pages: usize,
}

impl PageGuard {
    /// A guard for a listing of the vault at `vault_url`.
    pub fn new(vault_url: &str) -> Result<PageGuard, SyncError> {
        let vault = Url::parse(vault_url)
            .map_err(|e| SyncError::invalid("vault_url", format!("{vault_url}: {e}")))?;
        Ok(PageGuard {
            vault,
            seen: HashSet::new(),
            pages: 0,
        })
    }

    /// Accepts a page of the listing of `object`: errs when its `nextLink` leaves the vault's
    /// origin, repeats a link already followed, or the listing passes [`MAX_PAGES`].
    pub fn accept(&mut self, object: &str, page: &impl NextLink) -> Result<(), SyncError> {
        self.pages += 1;
        let refuse = |message: String| {
            SyncError::source_failure(object, SourceFailure::Other, None, message)
        };
        let Some(link) = page.next_link().filter(|l| !l.is_empty()) else {
            return Ok(());
        };
        if self.pages >= MAX_PAGES {
            return Err(refuse(format!(
                "the listing goes on past {MAX_PAGES} pages; stopped (a vault that pages forever is broken or hostile)"
            )));
        }
        let next = self.vault.join(link).map_err(|e| {
            refuse(format!(
                "the vault answered a nextLink that is not a URL ({e})"
            ))
        })?;
        if next.origin() != self.vault.origin() {
            return Err(refuse(format!(
                "the vault answered a nextLink on another origin ({}, the vault is {}); not followed, so the vault's token is not sent there",
                next.origin().ascii_serialization(),
                self.vault.origin().ascii_serialization()
            )));
        }
        if !self.seen.insert(next.to_string()) {
            return Err(refuse(format!(
                "the vault answered a nextLink it had already given ({next}); stopped instead of paging forever"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Page(Option<&'static str>);

    impl NextLink for Page {
        fn next_link(&self) -> Option<&str> {
            self.0
        }
    }

    const VAULT: &str = "https://v.vault.azure.net";

    #[test]
    fn links_on_the_vault_are_followed_once() {
        let mut guard = PageGuard::new(VAULT).unwrap();
        guard
            .accept(
                "*",
                &Page(Some("https://v.vault.azure.net/secrets?$skiptoken=a")),
            )
            .unwrap();
        guard
            .accept("*", &Page(Some("/secrets?$skiptoken=b")))
            .unwrap();
        guard.accept("*", &Page(None)).unwrap();
        let again = guard
            .accept("*", &Page(Some("/secrets?$skiptoken=a")))
            .unwrap_err()
            .to_string();
        assert!(again.contains("already given"), "{again}");
    }

    #[test]
    fn links_elsewhere_are_refused() {
        for link in [
            "https://evil.example/secrets?$skiptoken=a",
            "http://v.vault.azure.net/secrets",
            "https://v.vault.azure.net:8443/secrets",
        ] {
            let mut guard = PageGuard::new(VAULT).unwrap();
            let e = guard
                .accept("*", &Page(Some(link)))
                .unwrap_err()
                .to_string();
            assert!(e.contains("another origin"), "{link}: {e}");
        }
    }

    #[test]
    fn listings_stop_at_the_page_cap() {
        let mut guard = PageGuard::new(VAULT).unwrap();
        let links: Vec<String> = (0..MAX_PAGES).map(|i| format!("/secrets?t={i}")).collect();
        for link in &links[..MAX_PAGES - 1] {
            let page: &'static str = Box::leak(link.clone().into_boxed_str());
            guard.accept("*", &Page(Some(page))).unwrap();
        }
        let e = guard
            .accept("*", &Page(Some("/secrets?t=last")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("10000 pages"), "{e}");
    }
}
