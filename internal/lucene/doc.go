// Package lucene reads the on-disk format of Apache Lucene indexes, from
// Lucene 4.0 to 10.x, without Java: codec headers and footers (CodecUtil),
// the segments_N commit point, each segment's .si file, compound-file entry
// tables (.cfe), and the full file set of the latest commit as Lucene's
// SegmentInfos.files computes it.
//
// It is what makes delta shipping of an index safe: Lucene never rewrites a
// file, so a file's identity is its name, length, footer CRC32 and segment
// id. Load describes an index; Verify checks it, cheaply (headers, footers,
// lengths) or fully (recomputing every CRC32, sub-files of .cfs included).
//
// Parsers never panic on bad input: every read is bounds-checked and an
// unknown format version is refused with ErrUnsupported rather than guessed.
// It does not write indexes and does not decode postings, stored fields or
// any other segment content.
package lucene
