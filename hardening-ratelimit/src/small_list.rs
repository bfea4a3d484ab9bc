//! A list that holds one element without allocating.

/// Zero or one element inline, more on the heap. A request usually matches
/// one policy, so the hot path never allocates for its bookkeeping.
#[derive(Clone, Debug, Default)]
pub(crate) enum SmallList<T> {
    #[default]
    Empty,
    One(T),
    Many(Vec<T>),
}

impl<T> SmallList<T> {
    #[inline]
    pub(crate) fn push(&mut self, item: T) {
        match self {
            SmallList::Empty => *self = SmallList::One(item),
            SmallList::Many(v) => v.push(item),
            SmallList::One(_) => {
                if let SmallList::One(first) = std::mem::take(self) {
                    *self = SmallList::Many(vec![first, item]);
                }
            }
        }
    }

    pub(crate) fn as_slice(&self) -> &[T] {
        match self {
            SmallList::Empty => &[],
            SmallList::One(item) => std::slice::from_ref(item),
            SmallList::Many(v) => v,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, SmallList::Empty)
    }
}

#[cfg(test)]
mod tests {
    use super::SmallList;

    #[test]
    fn grows() {
        let mut l = SmallList::default();
        assert!(l.is_empty());
        l.push(1);
        assert_eq!(l.as_slice(), &[1]);
        l.push(2);
        l.push(3);
        assert_eq!(l.as_slice(), &[1, 2, 3]);
    }
}
