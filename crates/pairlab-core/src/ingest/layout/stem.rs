//! `stem`: `x.png` pairs with `x.txt` or `x.md` in the same folder.

use super::{Layout, Plan, pair_same_stem};
use crate::ingest::IngestError;
use crate::ingest::scan::FileRef;

pub fn plan(files: Vec<FileRef>, errors: Vec<IngestError>) -> Plan {
    let mut plan = Plan::new(Layout::Stem, errors);
    plan.images = pair_same_stem(&mut plan, &files);
    plan
}
