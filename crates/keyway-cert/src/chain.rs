//! Putting certificates in chain order: leaf → intermediates → root.
//!
//! The leaf is the certificate that issued no other in the set (an end-entity one first); each
//! next certificate is the issuer of the one before, linked by authority key id = subject key
//! id, or by issuer name = subject name when key ids are missing. The walk stops at a
//! self-signed certificate or when no issuer is in the set.

use crate::certificate::Certificate;

/// The result of ordering a set of certificates.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChainOrder {
    /// Indices (into the input) of the path found, leaf first.
    pub path: Vec<usize>,
    /// Indices of certificates that are not on that path, in input order.
    pub unlinked: Vec<usize>,
    /// The path ends at a self-signed certificate.
    pub ends_at_root: bool,
}

impl ChainOrder {
    /// Orders `certificates` (see the module documentation).
    pub fn of(certificates: &[Certificate]) -> ChainOrder {
        let n = certificates.len();
        if n == 0 {
            return ChainOrder {
                path: Vec::new(),
                unlinked: Vec::new(),
                ends_at_root: false,
            };
        }
        let issued_another = |i: usize| {
            (0..n).any(|j| {
                j != i
                    && certificates[i].is_issuer_of(&certificates[j])
                    && !same(certificates, i, j)
            })
        };
        let candidates: Vec<usize> = (0..n).filter(|&i| !issued_another(i)).collect();
        let leaf = candidates
            .iter()
            .copied()
            .find(|&i| !certificates[i].details().is_ca)
            .or_else(|| candidates.first().copied())
            .unwrap_or(0);

        let mut path = vec![leaf];
        let mut on_path = vec![false; n];
        on_path[leaf] = true;
        let mut current = leaf;
        let mut ends_at_root = false;
        loop {
            if certificates[current].is_self_signed() {
                ends_at_root = true;
                break;
            }
            let next = (0..n)
                .find(|&p| !on_path[p] && certificates[p].is_issuer_of(&certificates[current]));
            match next {
                Some(parent) => {
                    on_path[parent] = true;
                    path.push(parent);
                    current = parent;
                }
                None => break,
            }
        }
        let unlinked = (0..n).filter(|&i| !on_path[i]).collect();
        ChainOrder {
            path,
            unlinked,
            ends_at_root,
        }
    }

    /// Every certificate is on the path and the path ends at a self-signed root.
    pub fn complete(&self) -> bool {
        self.unlinked.is_empty() && self.ends_at_root
    }

    /// Every certificate is on one path (the root may be missing).
    pub fn linked(&self) -> bool {
        self.unlinked.is_empty()
    }

    /// The order outputs use: the path when every certificate is on it; otherwise the input
    /// order unchanged, as the Secrets Store CSI Azure provider does for chains it cannot link.
    pub fn output_order(&self) -> Vec<usize> {
        if self.linked() {
            self.path.clone()
        } else {
            let mut all: Vec<usize> = self.path.iter().chain(&self.unlinked).copied().collect();
            all.sort_unstable();
            all
        }
    }

    /// The output order differs from the input order.
    pub fn reordered(&self) -> bool {
        self.output_order()
            .iter()
            .enumerate()
            .any(|(pos, &i)| pos != i)
    }

    /// Index of the leaf, if there is any certificate.
    pub fn leaf(&self) -> Option<usize> {
        self.path.first().copied()
    }
}

/// The order the Secrets Store CSI Azure provider writes certificates in (its
/// `fetchCertChains`): each certificate's parent is the first other certificate, in stored
/// order, whose subject key id equals its authority key id (names are never compared); the
/// leaf is the first certificate that is nobody's parent. When the walk from that leaf through
/// the parents covers every certificate exactly once, the order is leaf → root; otherwise (no
/// key identifiers, unrelated or duplicate certificates, a cycle, no leaf) the stored order
/// is kept.
///
/// The provider fails the mount where there is no leaf (a key-only PKCS#12, a cycle); this
/// keeps the stored order instead.
pub fn provider_order(certificates: &[Certificate]) -> Vec<usize> {
    let n = certificates.len();
    let stored: Vec<usize> = (0..n).collect();
    let mut parent = vec![None; n];
    let mut is_parent = vec![false; n];
    for i in 0..n {
        let (_, aki) = certificates[i].key_identifiers();
        for j in (0..n).filter(|&j| j != i) {
            let (ski, _) = certificates[j].key_identifiers();
            if aki.is_none() && ski.is_none() {
                continue;
            }
            // Go compares string(nil) == string([]byte{}): absent and empty are equal.
            if aki.unwrap_or_default() == ski.unwrap_or_default() {
                parent[i] = Some(j);
                is_parent[j] = true;
                break;
            }
        }
    }
    let Some(leaf) = (0..n).find(|&i| !is_parent[i]) else {
        return stored;
    };
    let mut path = Vec::with_capacity(n);
    let mut node = Some(leaf);
    while let Some(i) = node {
        path.push(i);
        if path.len() > n {
            return stored;
        }
        node = parent[i];
    }
    if path.len() == n { path } else { stored }
}

fn same(certificates: &[Certificate], i: usize, j: usize) -> bool {
    certificates[i].der() == certificates[j].der()
}
