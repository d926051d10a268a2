//! [`ExampleRef`]: a row's handle to its devset example — the devset is
//! shared, not copied, so a result over 100,000 examples holds each example
//! once.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use kestrel_core::Example;
use serde::{Serialize, Serializer};

/// One example of a shared devset; derefs to [`Example`]
/// (`row.example.get("answer")`). Cloning it is cheap.
#[derive(Clone)]
pub struct ExampleRef {
    devset: Arc<[Example]>,
    index: usize,
}

impl ExampleRef {
    /// The example at `index` of `devset`; `None` when out of range.
    pub fn new(devset: Arc<[Example]>, index: usize) -> Option<Self> {
        (index < devset.len()).then_some(Self { devset, index })
    }

    /// Its position in the devset.
    pub fn index(&self) -> usize {
        self.index
    }

    /// A copy of the example.
    pub fn to_example(&self) -> Example {
        (**self).clone()
    }
}

impl Deref for ExampleRef {
    type Target = Example;
    fn deref(&self) -> &Example {
        // In range by construction.
        &self.devset[self.index]
    }
}

impl AsRef<Example> for ExampleRef {
    fn as_ref(&self) -> &Example {
        self
    }
}

impl fmt::Debug for ExampleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl PartialEq for ExampleRef {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl PartialEq<Example> for ExampleRef {
    fn eq(&self, other: &Example) -> bool {
        **self == *other
    }
}

impl Serialize for ExampleRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}
