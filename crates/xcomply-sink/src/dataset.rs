//! Reading a dataset's ID columns whatever their type; finding the files is `xcomply-dataset`'s.

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef};
use arrow_buffer::{NullBuffer, ScalarBuffer};
use arrow_schema::DataType;
use std::path::PathBuf;
use xcomply_core::Id;
use xcomply_dataset::Dataset;

use crate::SinkError;

/// Discovers the dataset of `inputs` (see [`Dataset::discover`]): the paths must be UTF-8,
/// since manifests name the files.
pub fn discover(inputs: &[PathBuf]) -> Result<Dataset, SinkError> {
    Ok(Dataset::discover(&input_strings(inputs)?)?)
}

/// The inputs as text, which is how the dataset crate and the manifests spell them.
pub fn input_strings(inputs: &[PathBuf]) -> Result<Vec<String>, SinkError> {
    inputs
        .iter()
        .map(|p| {
            p.to_str().map(str::to_owned).ok_or_else(|| {
                SinkError::Dataset(xcomply_dataset::DatasetError::NotUtf8 { path: p.clone() })
            })
        })
        .collect()
}

/// An ID column of a batch as plain `i64` values with validity: what the probe loop reads.
#[derive(Debug)]
pub struct IdValues {
    /// The values; those at invalid positions are unspecified (but never flagged IDs are
    /// guaranteed only where `valid` says so).
    pub values: ScalarBuffer<i64>,
    /// Valid positions; `None` when all are valid.
    pub valid: Option<NullBuffer>,
    /// Non-null values that are not IDs (negative, above `i64::MAX`, not decimal digits).
    pub invalid: u64,
}

impl IdValues {
    /// The ID at `i`, or `None` when null or not an ID.
    #[inline]
    pub fn get(&self, i: usize) -> Option<i64> {
        match &self.valid {
            Some(v) if !v.is_valid(i) => None,
            _ => Some(self.values[i]),
        }
    }
}

/// Whether a column type can hold IDs: int64, uint64, int32, uint32 or decimal strings.
pub fn is_id_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int64
            | DataType::UInt64
            | DataType::Int32
            | DataType::UInt32
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
    )
}

/// Converts an ID column to [`IdValues`]. Values that are not IDs (negative numbers, unsigned
/// values above `i64::MAX`, strings that are not 1–19 decimal digits) become invalid and are
/// counted, so they never match and the summary says how many there were.
pub fn id_values(array: &ArrayRef) -> Option<IdValues> {
    let n = array.len();
    let from_iter = |iter: &mut dyn Iterator<Item = Option<i64>>| {
        let mut values = Vec::with_capacity(n);
        let mut valid = Vec::with_capacity(n);
        let mut invalid = 0;
        let nulls = array.logical_nulls();
        for (i, v) in iter.enumerate() {
            let is_null = nulls.as_ref().is_some_and(|b| b.is_null(i));
            match v {
                Some(v) if v >= 0 => {
                    values.push(v);
                    valid.push(true);
                }
                _ => {
                    invalid += u64::from(!is_null);
                    values.push(0);
                    valid.push(false);
                }
            }
        }
        IdValues {
            values: ScalarBuffer::from(values),
            valid: Some(NullBuffer::from(valid)),
            invalid,
        }
    };
    Some(match array.data_type() {
        DataType::Int64 => {
            let a = array.as_primitive::<Int64Type>();
            let values = a.values();
            // A vectorised scan first; the exact count (ignoring nulls) only when some value is negative.
            let negative = if values.iter().any(|&v| v < 0) {
                values
                    .iter()
                    .enumerate()
                    .filter(|&(i, &v)| v < 0 && a.is_valid(i))
                    .count()
            } else {
                0
            };
            if negative == 0 {
                // The common case: values and validity shared with the batch, nothing copied.
                IdValues {
                    values: values.clone(),
                    valid: a.nulls().cloned(),
                    invalid: 0,
                }
            } else {
                from_iter(&mut a.iter())
            }
        }
        DataType::UInt64 => {
            let a = array.as_primitive::<UInt64Type>();
            from_iter(&mut a.iter().map(|v| v.and_then(|v| i64::try_from(v).ok())))
        }
        DataType::Int32 => from_iter(
            &mut array
                .as_primitive::<Int32Type>()
                .iter()
                .map(|v| v.map(i64::from)),
        ),
        DataType::UInt32 => from_iter(
            &mut array
                .as_primitive::<UInt32Type>()
                .iter()
                .map(|v| v.map(i64::from)),
        ),
        DataType::Utf8 => from_iter(&mut array.as_string::<i32>().iter().map(parse_id)),
        DataType::LargeUtf8 => from_iter(&mut array.as_string::<i64>().iter().map(parse_id)),
        DataType::Utf8View => from_iter(&mut array.as_string_view().iter().map(parse_id)),
        _ => return None,
    })
}

/// The sharder's rule exactly (`Id::parse_trimmed`): a cell like `" 123"` was sent to X as 123,
/// so it must match 123 here.
fn parse_id(s: Option<&str>) -> Option<i64> {
    s.and_then(|s| Id::parse_trimmed(s.as_bytes()).ok())
        .map(Id::as_i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::{Int64Array, StringArray, UInt64Array};

    #[test]
    fn id_columns_of_every_type() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), None, Some(-1)]));
        let v = id_values(&a).unwrap();
        assert_eq!(
            (v.get(0), v.get(1), v.get(2), v.invalid),
            (Some(5), None, None, 1)
        );
        let a: ArrayRef = Arc::new(UInt64Array::from(vec![Some(u64::MAX), Some(7), None]));
        let v = id_values(&a).unwrap();
        assert_eq!(
            (v.get(0), v.get(1), v.get(2), v.invalid),
            (None, Some(7), None, 1)
        );
        let a: ArrayRef = Arc::new(StringArray::from(vec![
            Some("1446017776678801409"),
            Some("x1"),
            None,
            Some(""),
        ]));
        let v = id_values(&a).unwrap();
        assert_eq!(
            (v.get(0), v.get(1), v.get(2), v.get(3), v.invalid),
            (Some(1_446_017_776_678_801_409), None, None, None, 2)
        );
        // Surrounding whitespace is accepted, as the sharder accepts it when it sends the ID to X.
        let a: ArrayRef = Arc::new(StringArray::from(vec![Some(" 12\r\n"), Some("1 2")]));
        let v = id_values(&a).unwrap();
        assert_eq!((v.get(0), v.get(1), v.invalid), (Some(12), None, 1));
    }
}
