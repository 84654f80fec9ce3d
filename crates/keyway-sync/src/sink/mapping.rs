//! A [`Remap`](super::Remap)'s renames — (synced path, name in the inner sink) pairs — kept in
//! one string and one table of ends, not two strings a pair: a controller keeps one mapping per
//! SecretSync (50,000 pairs at 5,000 SecretSyncs of 10 keys), and two allocations each instead
//! of twenty-one are a third of the memory.

/// (synced path, name in the inner sink) pairs, in the order given.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Mapping {
    /// Every pair's path then name, one after another.
    text: Box<str>,
    /// Where each pair's path and name end in `text`.
    ends: Box<[(usize, usize)]>,
}

impl Mapping {
    /// The pairs, in the order given.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut start = 0;
        self.ends.iter().map(move |&(path_end, name_end)| {
            let pair = (&self.text[start..path_end], &self.text[path_end..name_end]);
            start = name_end;
            pair
        })
    }
}

/// The pairs, as `[(path, name), …]`.
impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<P: AsRef<str>, N: AsRef<str>> FromIterator<(P, N)> for Mapping {
    fn from_iter<I: IntoIterator<Item = (P, N)>>(pairs: I) -> Mapping {
        let mut text = String::new();
        let mut ends = Vec::new();
        for (path, name) in pairs {
            text.push_str(path.as_ref());
            let path_end = text.len();
            text.push_str(name.as_ref());
            ends.push((path_end, text.len()));
        }
        Mapping {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pairs come back as given, in order, repeats and empty names included (the syncer
    /// refuses empty ones before; a mapping keeps what it is given).
    #[test]
    fn pairs_come_back_as_given() {
        let pairs = [
            ("db", "password"),
            ("db", "copy"),
            ("", "x"),
            ("é/ü", ""),
            ("a", "b"),
        ];
        let mapping: Mapping = pairs.iter().copied().collect();
        assert_eq!(mapping.iter().collect::<Vec<_>>(), pairs);
        assert_eq!(Mapping::default().iter().count(), 0);
        let owned: Mapping = [("k".to_string(), "v".to_string())].into_iter().collect();
        assert_eq!(owned.iter().collect::<Vec<_>>(), [("k", "v")]);
        assert_eq!(format!("{owned:?}"), r#"[("k", "v")]"#);
    }
}
