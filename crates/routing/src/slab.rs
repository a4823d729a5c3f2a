//! A slab: stable small indices for live items, with slot reuse.

pub(crate) type Ix = u32;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<Ix>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            items: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    pub fn insert(&mut self, t: T) -> Ix {
        self.len += 1;
        match self.free.pop() {
            Some(ix) => {
                debug_assert!(self.items[ix as usize].is_none());
                self.items[ix as usize] = Some(t);
                ix
            }
            None => {
                self.items.push(Some(t));
                Ix::try_from(self.items.len() - 1).expect("slab index fits in u32")
            }
        }
    }

    pub fn remove(&mut self, ix: Ix) -> T {
        let t = self.items[ix as usize]
            .take()
            .expect("removing a live slab item");
        self.free.push(ix);
        self.len -= 1;
        t
    }

    pub fn get(&self, ix: Ix) -> Option<&T> {
        self.items.get(ix as usize).and_then(|o| o.as_ref())
    }

    pub fn get_mut(&mut self, ix: Ix) -> Option<&mut T> {
        self.items.get_mut(ix as usize).and_then(|o| o.as_mut())
    }

    /// The live item at `ix`; a dead index is a programming error.
    pub fn at(&self, ix: Ix) -> &T {
        self.items[ix as usize].as_ref().expect("live slab item")
    }

    pub fn at_mut(&mut self, ix: Ix) -> &mut T {
        self.items[ix as usize].as_mut().expect("live slab item")
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn iter(&self) -> impl Iterator<Item = (Ix, &T)> {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.as_ref().map(|t| (i as Ix, t)))
    }
}
