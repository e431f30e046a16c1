//! Column builders for one batch: plain vectors filled in place, moved into Arrow buffers without
//! copying when the batch is taken.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow_buffer::{BooleanBufferBuilder, NullBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The time zone of both timestamp columns.
pub const UTC: &str = "UTC";

/// The schema of the batches the decoder emits: the first five columns of the results file.
pub fn decoded_schema() -> SchemaRef {
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some(UTC.into()));
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("action", dict.clone(), false),
        Field::new("reason", dict, false),
        Field::new("created_at", ts.clone(), false),
        Field::new("redacted_at", ts, true),
    ]))
}

/// The first eight bytes of a value, zero-padded, as an integer.
#[inline]
fn prefix(value: &[u8]) -> u64 {
    if let Some(word) = value.get(..8) {
        return u64::from_le_bytes(word.try_into().expect("eight bytes"));
    }
    // Shorter values (`delete`, `deleted`) are assembled byte by byte: cheaper than a copy of
    // variable length.
    value
        .iter()
        .enumerate()
        .fold(0, |acc, (i, &b)| acc | u64::from(b) << (8 * i))
}

/// A string column's dictionary for one batch: the known values first (so their keys are stable),
/// then any unknown values in order of appearance.
#[derive(Debug)]
pub(crate) struct Dict {
    known: Vec<&'static str>,
    /// Each known value's length and first eight bytes (zero-padded) as an integer: most lookups
    /// are settled by two integer comparisons instead of a call to `memcmp`.
    known_prefixes: Vec<(usize, u64)>,
    unknown: Vec<String>,
    unknown_keys: HashMap<String, i32>,
}

impl Dict {
    pub(crate) fn new(known: Vec<&'static str>) -> Dict {
        Dict {
            known_prefixes: known
                .iter()
                .map(|k| (k.len(), prefix(k.as_bytes())))
                .collect(),
            known,
            unknown: Vec::new(),
            unknown_keys: HashMap::new(),
        }
    }

    /// The key of a known value, without allocating.
    #[inline]
    pub(crate) fn known_key(&self, value: &[u8]) -> Option<i32> {
        let key = (value.len(), prefix(value));
        self.known_prefixes
            .iter()
            .zip(&self.known)
            .position(|(p, k)| *p == key && (value.len() <= 8 || k.as_bytes()[8..] == value[8..]))
            .map(|p| p as i32)
    }

    /// The key of an unknown value, adding it to this batch's dictionary on first sight. Only
    /// unknown values allocate, once per batch.
    pub(crate) fn unknown_key(&mut self, value: &str) -> i32 {
        if let Some(&k) = self.unknown_keys.get(value) {
            return k;
        }
        let k = (self.known.len() + self.unknown.len()) as i32;
        self.unknown.push(value.to_owned());
        self.unknown_keys.insert(value.to_owned(), k);
        k
    }

    fn take_values(&mut self) -> StringArray {
        let values: StringArray = self
            .known
            .iter()
            .copied()
            .chain(self.unknown.iter().map(String::as_str))
            .map(Some)
            .collect();
        self.unknown.clear();
        self.unknown_keys.clear();
        values
    }
}

/// The rows of the batch being filled.
#[derive(Debug)]
pub(crate) struct Columns {
    capacity: usize,
    pub ids: Vec<i64>,
    pub actions: Vec<i32>,
    pub reasons: Vec<i32>,
    pub created: Vec<i64>,
    pub redacted: Vec<i64>,
    pub redacted_valid: BooleanBufferBuilder,
    pub action_dict: Dict,
    pub reason_dict: Dict,
}

impl Columns {
    pub(crate) fn new(capacity: usize) -> Columns {
        Columns {
            capacity,
            ids: Vec::with_capacity(capacity),
            actions: Vec::with_capacity(capacity),
            reasons: Vec::with_capacity(capacity),
            created: Vec::with_capacity(capacity),
            redacted: Vec::with_capacity(capacity),
            redacted_valid: BooleanBufferBuilder::new(capacity),
            action_dict: Dict::new(
                xcomply_core::Action::KNOWN
                    .iter()
                    .map(xcomply_core::Action::as_str)
                    .collect(),
            ),
            reason_dict: Dict::new(
                xcomply_core::Reason::KNOWN
                    .iter()
                    .map(xcomply_core::Reason::as_str)
                    .collect(),
            ),
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    #[inline]
    pub(crate) fn push(
        &mut self,
        id: i64,
        action: i32,
        reason: i32,
        created: i64,
        redacted: Option<i64>,
    ) {
        self.ids.push(id);
        self.actions.push(action);
        self.reasons.push(reason);
        self.created.push(created);
        self.redacted.push(redacted.unwrap_or(0));
        self.redacted_valid.append(redacted.is_some());
    }

    /// Moves the rows into a record batch and starts an empty one of the same capacity.
    pub(crate) fn take(&mut self) -> RecordBatch {
        let capacity = self.capacity;
        let ids = std::mem::replace(&mut self.ids, Vec::with_capacity(capacity));
        let actions = std::mem::replace(&mut self.actions, Vec::with_capacity(capacity));
        let reasons = std::mem::replace(&mut self.reasons, Vec::with_capacity(capacity));
        let created = std::mem::replace(&mut self.created, Vec::with_capacity(capacity));
        let redacted = std::mem::replace(&mut self.redacted, Vec::with_capacity(capacity));
        let valid = std::mem::replace(
            &mut self.redacted_valid,
            BooleanBufferBuilder::new(capacity),
        )
        .finish();
        let nulls = Some(NullBuffer::new(valid)).filter(|n| n.null_count() > 0);

        let action_values = Arc::new(self.action_dict.take_values());
        let reason_values = Arc::new(self.reason_dict.take_values());
        // Keys always index the dictionary built alongside them, so construction cannot fail.
        let action = DictionaryArray::<Int32Type>::try_new(
            Int32Array::new(ScalarBuffer::from(actions), None),
            action_values,
        )
        .expect("action keys index their dictionary");
        let reason = DictionaryArray::<Int32Type>::try_new(
            Int32Array::new(ScalarBuffer::from(reasons), None),
            reason_values,
        )
        .expect("reason keys index their dictionary");
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::new(ScalarBuffer::from(ids), None)),
            Arc::new(action),
            Arc::new(reason),
            Arc::new(
                TimestampMillisecondArray::new(ScalarBuffer::from(created), None)
                    .with_timezone(UTC),
            ),
            Arc::new(
                TimestampMillisecondArray::new(ScalarBuffer::from(redacted), nulls)
                    .with_timezone(UTC),
            ),
        ];
        RecordBatch::try_new(decoded_schema(), columns).expect("columns match the decoded schema")
    }
}
