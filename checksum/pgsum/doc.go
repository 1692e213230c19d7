// Package pgsum builds the SQL that checksums a range of a table inside
// the PostgreSQL server, so that no row travels to compare two databases.
//
// A chunk's checksum is its row count and two 64-bit sums over its rows
// (order-independent, so the servers may scan in any order) of a hash of
// each row's text: hashtextextended under two seeds where both servers are
// PostgreSQL 11 or later, else two 64-bit slices of md5. Both sides pin the settings that shape row text
// (TimeZone UTC, DateStyle ISO, IntervalStyle postgres, bytea_output hex,
// extra_float_digits 3), and float4/float8 columns are hashed from their
// binary form (float8send), because their text output changed in
// PostgreSQL 12. What it sees: any change of any copied column's value,
// including numeric scale (1.5 vs 1.50), -0 vs 0, NaN, ±Infinity, NULL vs
// empty. What it cannot see: generated columns (recomputed by the target),
// floats inside arrays or composite values compared by their text, and a
// pair of changes whose md5 slices cancel in the sums (probability ~2^-64).
// Row text costs what record output costs; md5 on top costs about 1 s per
// million pgbench rows per core, hashtextextended a fraction of that.
// PostgreSQL 14's hash_record_extended would skip the text but equates
// 1.5 and 1.50, so it is not used.
package pgsum
