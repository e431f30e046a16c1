//! Parquet inputs: one or more ID columns read in one pass over each file.

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, UInt32Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use xcomply_core::Id;
use xcomply_dataset::DatasetFile;

use crate::{IdSink, Reject, ShardError};

/// Rows per decoded batch: large enough that the per-batch work vanishes, small enough that a
/// batch of two columns stays around a MiB.
const BATCH_ROWS: usize = 64 * 1024;

/// Reads `columns[i]` of the dataset file `file` into `sinks[i]`, decoding each row group once for
/// all the columns: `xcomply run` reads post IDs (`id`) and user IDs (`author_id`) in one pass.
///
/// Columns may be int64, uint64, int32, uint32 or strings of decimal digits (surrounding spaces
/// allowed); nulls are counted with [`IdSink::push_nulls`]. A negative number, a value above
/// `i64::MAX` or a string that is not an ID fails the read in strict mode with the file, row index
/// (0-based, like `DuckDB`'s `file_row_number`) and column, and goes to [`IdSink::push_invalid`] in
/// lenient mode. Returns the number of rows.
pub fn read_parquet_columns(
    file: &DatasetFile,
    columns: &[&str],
    lenient: bool,
    sinks: &mut [&mut dyn IdSink],
) -> Result<u64, ShardError> {
    assert_eq!(columns.len(), sinks.len(), "one sink per column");
    let display = file.display.clone();
    let parquet_error = |e: &dyn std::fmt::Display| ShardError::Parquet {
        path: display.clone(),
        message: e.to_string(),
    };
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file.reader()?).map_err(|e| parquet_error(&e))?;
    let schema = builder.schema().clone();
    let mut roots = Vec::with_capacity(columns.len());
    for &column in columns {
        let Ok(index) = schema.index_of(column) else {
            let available: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(ShardError::ColumnNotFound {
                path: display,
                column: column.to_owned(),
                available: available.join(", "),
            });
        };
        let data_type = schema.field(index).data_type();
        if !supported(data_type) {
            return Err(ShardError::UnsupportedColumnType {
                path: display,
                column: column.to_owned(),
                data_type: data_type.to_string(),
            });
        }
        roots.push(index);
    }
    let mut sorted_roots = roots.clone();
    sorted_roots.sort_unstable();
    sorted_roots.dedup();
    let mask = ProjectionMask::roots(builder.parquet_schema(), sorted_roots.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| parquet_error(&e))?;
    let mut row = 0u64;
    let mut ids = Vec::with_capacity(BATCH_ROWS);
    for batch in reader {
        let batch: RecordBatch = batch.map_err(|e| parquet_error(&e))?;
        for ((&column, &root), sink) in columns.iter().zip(&roots).zip(sinks.iter_mut()) {
            // The projected batch keeps the file's column order.
            let position = sorted_roots.binary_search(&root).expect("projected");
            let array = batch.column(position);
            ids.clear();
            let at = |offset: usize| {
                format!(
                    "{display}: row {} of column `{column}`",
                    row + offset as u64
                )
            };
            let sink: &mut dyn IdSink = &mut **sink;
            let reject = |offset: usize, text: &str, sink: &mut dyn IdSink| {
                let Err(error) = Id::parse_trimmed(text.as_bytes()) else {
                    unreachable!("only invalid values are rejected")
                };
                if lenient {
                    sink.push_invalid(&Reject {
                        at: at(offset),
                        error,
                    })
                } else {
                    Err(ShardError::InvalidId {
                        at: at(offset),
                        error,
                    })
                }
            };
            sink.push_nulls(array.null_count() as u64);
            match array.data_type() {
                DataType::Int64 => {
                    for (offset, value) in array.as_primitive::<Int64Type>().iter().enumerate() {
                        let Some(value) = value else { continue };
                        match Id::from_i64(value) {
                            Some(id) => ids.push(id),
                            None => reject(offset, &value.to_string(), sink)?,
                        }
                    }
                }
                DataType::UInt64 => {
                    for (offset, value) in array.as_primitive::<UInt64Type>().iter().enumerate() {
                        let Some(value) = value else { continue };
                        match Id::new(value) {
                            Some(id) => ids.push(id),
                            None => reject(offset, &value.to_string(), sink)?,
                        }
                    }
                }
                DataType::Int32 => {
                    for (offset, value) in array.as_primitive::<Int32Type>().iter().enumerate() {
                        let Some(value) = value else { continue };
                        match Id::from_i64(i64::from(value)) {
                            Some(id) => ids.push(id),
                            None => reject(offset, &value.to_string(), sink)?,
                        }
                    }
                }
                DataType::UInt32 => {
                    for value in array.as_primitive::<UInt32Type>().iter().flatten() {
                        ids.push(Id::new(u64::from(value)).expect("a u32 is an ID"));
                    }
                }
                DataType::Utf8 => {
                    for (offset, text) in array.as_string::<i32>().iter().enumerate() {
                        let Some(text) = text else { continue };
                        match Id::parse_trimmed(text.as_bytes()) {
                            Ok(id) => ids.push(id),
                            Err(_) => reject(offset, text, sink)?,
                        }
                    }
                }
                DataType::LargeUtf8 => {
                    for (offset, text) in array.as_string::<i64>().iter().enumerate() {
                        let Some(text) = text else { continue };
                        match Id::parse_trimmed(text.as_bytes()) {
                            Ok(id) => ids.push(id),
                            Err(_) => reject(offset, text, sink)?,
                        }
                    }
                }
                DataType::Utf8View => {
                    for (offset, text) in array.as_string_view().iter().enumerate() {
                        let Some(text) = text else { continue };
                        match Id::parse_trimmed(text.as_bytes()) {
                            Ok(id) => ids.push(id),
                            Err(_) => reject(offset, text, sink)?,
                        }
                    }
                }
                other => unreachable!("checked above: {other}"),
            }
            sink.push_ids(&ids)?;
        }
        row += batch.num_rows() as u64;
    }
    Ok(row)
}

fn supported(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int64
            | DataType::UInt64
            | DataType::Int32
            | DataType::UInt32
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
    )
}
