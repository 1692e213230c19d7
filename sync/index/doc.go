// Package index verifies, snapshots, ships, repairs and restores Lucene
// indexes between nodes (`cutover index …`).
//
// An index is shipped as a delta of its write-once files: a target file is
// reused when its name, length, footer CRC32 and segment id match the
// source's, and a segment is re-sent whole when any of its files differs.
// New files are staged beside the index (<dir>.staging/), checked against
// their CRC in flight, synced, and only then switched in with renames,
// segments_N last; every file the new commit does not reference moves to
// <dir>.previous/, from which --rollback restores the former commit. The
// protocol needs only rename within one filesystem, so it works on a local
// disk, on NFS/EFS and over SFTP.
//
// The format itself (segments_N, .si, .cfe, headers and footers) is read by
// package internal/lucene; files travel through package internal/store.
package index
